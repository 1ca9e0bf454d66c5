//! The `wa-node` example (`core/examples/wa-node.rs`): its `run` function is included
//! here and driven with in-memory stdin/stdout/stderr, so the tool is tested by the
//! ordinary `cargo test` run without spawning cargo.

mod binary_support;

#[allow(dead_code)] // `main` and the usage text are for the real binary.
#[path = "../examples/wa-node.rs"]
mod wa_node;

use std::io::{self, Write};

use binary_support::{compressed_frame, encode, pattern, stream_error, vectors};
use serde_json::json;
use wa_core::binary::Node;

/// The docs/protocol.md §4.5 keepalive IQ, without the flags byte.
const KEEPALIVE_HEX: &str = "f8091908ff8412b34a5f1657042911fa0003";
const KEEPALIVE_TEXT: &str = r#"<iq id="12.34-5" xmlns="w:p" type="get" to="s.whatsapp.net"/>"#;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn wa_node(args: &[&str], stdin: &str) -> Run {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = wa_node::run(&args, &mut stdin.as_bytes(), &mut out, &mut err);
    Run {
        code,
        stdout: String::from_utf8(out).expect("utf-8 stdout"),
        stderr: String::from_utf8(err).expect("utf-8 stderr"),
    }
}

/// Runs and expects success; returns stdout.
fn ok(args: &[&str], stdin: &str) -> String {
    let r = wa_node(args, stdin);
    assert_eq!(r.code, 0, "{args:?} failed: {}", r.stderr);
    assert_eq!(r.stderr, "", "{args:?}");
    r.stdout
}

/// Runs and expects exit status `code` with nothing on stdout; returns stderr.
fn fails(code: i32, args: &[&str], stdin: &str) -> String {
    let r = wa_node(args, stdin);
    assert_eq!(
        r.code, code,
        "{args:?}: stdout {:?} stderr {:?}",
        r.stdout, r.stderr
    );
    assert_eq!(r.stdout, "", "{args:?}");
    assert!(r.stderr.starts_with("wa-node: "), "{:?}", r.stderr);
    r.stderr
}

// ---- decode ---------------------------------------------------------------------------

#[test]
fn decode_keepalive_to_text() {
    assert_eq!(
        ok(&["decode", KEEPALIVE_HEX], ""),
        format!("{KEEPALIVE_TEXT}\n")
    );
    // Upper case and whitespace between digits are fine.
    let spaced = "F809 1908FF84 12B34A5F\n1657 0429 11FA0003";
    assert_eq!(ok(&["decode", spaced], ""), format!("{KEEPALIVE_TEXT}\n"));
}

#[test]
fn decode_frame_strips_the_flags_byte() {
    let frame = format!("00{KEEPALIVE_HEX}");
    assert_eq!(
        ok(&["decode", "--frame", &frame], ""),
        format!("{KEEPALIVE_TEXT}\n")
    );
    // Without --frame the flags byte is not a node.
    let e = fails(1, &["decode", &frame], "");
    // (00 is LIST_EMPTY: a node list of size 0).
    assert_eq!(
        e,
        "wa-node: cannot decode the node: empty node at offset 0\n"
    );
}

#[test]
fn decode_reads_stdin() {
    let stdin = format!("{}\n{}\n", &KEEPALIVE_HEX[..10], &KEEPALIVE_HEX[10..]);
    assert_eq!(ok(&["decode", "-"], &stdin), format!("{KEEPALIVE_TEXT}\n"));
    let frame = format!("00{KEEPALIVE_HEX}\n");
    assert_eq!(
        ok(&["--frame", "decode", "-"], &frame),
        format!("{KEEPALIVE_TEXT}\n")
    );
}

#[test]
fn decode_compressed_frame() {
    let frame = hex::encode(compressed_frame(&stream_error()));
    assert!(frame.starts_with("02"));
    assert_eq!(
        ok(&["decode", "--frame", &frame], ""),
        "<stream:error code=\"409\">\n  <conflict type=\"replaced\"/>\n</stream:error>\n"
    );
}

#[test]
fn decode_shows_children_indented_and_bytes_as_hex() {
    let node = Node::new("message").with_attr("id", "A1").with_children([
        Node::new("enc")
            .with_attr("v", "2")
            .with_bytes(vec![0x0a, 0x1b, 0xff]),
        Node::new("ack"),
    ]);
    let hex = hex::encode(encode(&node));
    assert_eq!(
        ok(&["decode", &hex], ""),
        "<message id=\"A1\">\n  <enc v=\"2\">0a1bff</enc>\n  <ack/>\n</message>\n"
    );
}

#[test]
fn decode_json() {
    let out = ok(&["decode", "--json", KEEPALIVE_HEX], "");
    let value: serde_json::Value = serde_json::from_str(&out).expect("JSON output");
    assert_eq!(
        value,
        json!({
            "tag": "iq",
            "attrs": {"id": "12.34-5", "xmlns": "w:p", "type": "get",
                      "to": {"jid": "s.whatsapp.net"}},
            "content": null
        })
    );
    // Attribute order is the wire order.
    let keys: Vec<usize> = ["\"id\"", "\"xmlns\"", "\"type\"", "\"to\""]
        .iter()
        .map(|k| out.find(k).expect("key present"))
        .collect();
    assert!(keys.is_sorted(), "{out}");

    let node = Node::new("enc").with_bytes(pattern(3, 1));
    let out = ok(&["decode", "--json", &hex::encode(encode(&node))], "");
    let value: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        value["content"],
        json!({"bytes_hex": hex::encode(pattern(3, 1))})
    );
}

// ---- encode ---------------------------------------------------------------------------

#[test]
fn encode_keepalive_from_json() {
    let json = r#"{"tag": "iq", "attrs": {"id": "12.34-5", "xmlns": "w:p", "type": "get",
                   "to": {"jid": "s.whatsapp.net"}}}"#;
    assert_eq!(ok(&["encode", json], ""), format!("{KEEPALIVE_HEX}\n"));
    assert_eq!(
        ok(&["encode", "--frame", json], ""),
        format!("00{KEEPALIVE_HEX}\n")
    );
    assert_eq!(ok(&["encode", "-"], json), format!("{KEEPALIVE_HEX}\n"));
}

#[test]
fn encode_the_usage_example() {
    // The example in the tool's doc comment.
    let json = r#"{"tag":"iq","attrs":{"type":"get","to":{"jid":"s.whatsapp.net"}}}"#;
    assert_eq!(
        ok(&["encode", "--frame", "-"], json),
        "00f80519042911fa0003\n"
    );
}

#[test]
fn encode_content_forms() {
    // Token content, NIBBLE_8 content: the encode vectors of binary_other.json.
    let all = vectors();
    for v in all["encode_vectors"].as_array().unwrap() {
        let n = &v["node"];
        let json = json!({"tag": n["tag"], "attrs": n["attrs"], "content": {"text": n["content"]}});
        let want = v["expected_hex"].as_str().unwrap();
        assert_eq!(
            ok(&["encode", "--frame", &json.to_string()], ""),
            format!("{want}\n"),
            "{}",
            v["name"]
        );
    }
    // Bytes and children.
    let json = r#"{"tag": "enc", "content": [{"tag": "a", "content": {"bytes_hex": "0A1b"}}]}"#;
    let node = Node::new("enc").with_children([Node::new("a").with_bytes(vec![0x0a, 0x1b])]);
    assert_eq!(
        ok(&["encode", json], ""),
        format!("{}\n", hex::encode(encode(&node)))
    );
}

#[test]
fn json_round_trip_of_a_real_stanza() {
    // The captured <success> of binary_other.json (a @lid device JID among the attrs).
    let all = vectors();
    let v = &all["decode_vectors"][0];
    let hex = v["hex"].as_str().unwrap();
    assert_eq!(v["has_flags_byte"], json!(false));
    let json = ok(&["decode", "--json", hex], "");
    assert!(json.contains("\"100000000000001:42@lid\""), "{json}");
    assert_eq!(ok(&["encode", "-"], &json), format!("{hex}\n"));
    // And the text form of the same bytes.
    let text = ok(&["decode", hex], "");
    assert!(
        text.starts_with(
            r#"<success t="1752021890" props="27" location="frc" lid="100000000000001:42@lid""#
        ),
        "{text}"
    );
}

#[test]
fn json_reads_back_up_to_63_levels_of_nodes() {
    // `levels` nested `<a>` nodes; the JSON form nests two levels per node.
    fn nested(levels: usize) -> Node {
        (1..levels).fold(Node::new("a"), |child, _| {
            Node::new("a").with_children([child])
        })
    }
    let ok_hex = hex::encode(encode(&nested(63)));
    let json = ok(&["decode", "--json", &ok_hex], "");
    assert_eq!(ok(&["encode", "-"], &json), format!("{ok_hex}\n"));

    let deep_hex = hex::encode(encode(&nested(64)));
    let json = ok(&["decode", "--json", &deep_hex], "");
    let e = fails(1, &["encode", "-"], &json);
    assert!(e.contains("recursion limit exceeded"), "{e}");
}

// ---- bad input (exit 1) -----------------------------------------------------------------

#[test]
fn bad_hex() {
    let e = fails(1, &["decode", "f80"], "");
    assert!(e.contains("invalid hex"), "{e}");
    let e = fails(1, &["decode", "f8zz"], "");
    assert!(e.contains("invalid hex") && e.contains("'z'"), "{e}");
}

#[test]
fn truncated_node_names_the_offset() {
    // The keepalive without its last byte (the server token of the `to` JID).
    let cut = &KEEPALIVE_HEX[..KEEPALIVE_HEX.len() - 2];
    let e = fails(1, &["decode", cut], "");
    assert_eq!(
        e,
        "wa-node: cannot decode the node: unexpected end of input at offset 17\n"
    );
    let e = fails(1, &["decode", "--frame", &format!("00{cut}")], "");
    assert_eq!(
        e,
        "wa-node: cannot decode the frame: unexpected end of input at offset 17 \
         (offset in the node, after the flags byte)\n"
    );
    let e = fails(1, &["decode", &format!("{KEEPALIVE_HEX}00")], "");
    assert!(e.contains("1 trailing bytes at offset 18"), "{e}");
}

#[test]
fn bad_frames() {
    let e = fails(1, &["decode", "--frame", ""], "");
    assert!(e.contains("empty frame"), "{e}");
    let e = fails(1, &["decode", "--frame", "02deadbeef"], "");
    assert!(e.contains("invalid zlib data at offset"), "{e}");
    // A compressed frame whose inflated node is cut short: the offset is in the node.
    let mut node = encode(&stream_error());
    node.pop();
    let frame = {
        use std::io::Write as _;
        let mut z = flate2::write::ZlibEncoder::new(vec![0x02], flate2::Compression::fast());
        z.write_all(&node).unwrap();
        z.finish().unwrap()
    };
    let e = fails(1, &["decode", "--frame", &hex::encode(frame)], "");
    assert!(e.ends_with("(offset in the inflated node)\n"), "{e}");
}

#[test]
fn bad_json() {
    let e = fails(1, &["encode", "{"], "");
    assert!(e.contains("invalid JSON node"), "{e}");
    let e = fails(1, &["encode", r#"{"tag": "a", "atrs": {}}"#], "");
    assert!(e.contains("atrs"), "{e}");
    let e = fails(1, &["encode", r#"{"tag": ""}"#], "");
    assert_eq!(e, "wa-node: cannot encode the node: empty tag\n");
    let e = fails(
        1,
        &[
            "encode",
            r#"{"tag": "a", "attrs": {"to": {"jid": "x@nowhere"}}}"#,
        ],
        "",
    );
    assert!(e.contains("unknown jid server"), "{e}");
    let e = fails(
        1,
        &["encode", r#"{"tag": "a", "content": {"bytes_hex": "abc"}}"#],
        "",
    );
    assert!(e.contains("bytes_hex is not valid hex"), "{e}");
}

#[test]
fn unwritable_stdout_is_an_error() {
    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let args = vec!["decode".to_owned(), KEEPALIVE_HEX.to_owned()];
    let mut err = Vec::new();
    let code = wa_node::run(&args, &mut io::empty(), &mut Broken, &mut err);
    assert_eq!(code, 1);
    assert!(
        String::from_utf8(err)
            .unwrap()
            .contains("cannot write the output")
    );
}

// ---- usage (exit 2) -------------------------------------------------------------------

#[test]
fn usage_errors() {
    for (args, msg) in [
        (&[][..], "missing command"),
        (&["frob", "aa"][..], "unknown command \"frob\""),
        (&["decode"][..], "decode: missing input"),
        (&["encode", "--frame"][..], "encode: missing input"),
        (&["decode", "--bogus", "aa"][..], "unknown option --bogus"),
        (&["decode", "aa", "bb"][..], "unexpected argument \"bb\""),
        (
            &["encode", "--json", "{}"][..],
            "encode: --json applies to decode only",
        ),
    ] {
        let e = fails(2, args, "");
        assert!(e.starts_with(&format!("wa-node: {msg}")), "{args:?}: {e}");
        assert!(
            e.contains("usage: wa-node decode"),
            "{args:?}: usage missing"
        );
    }
}

#[test]
fn help() {
    for flag in ["--help", "-h"] {
        let out = ok(&[flag], "");
        assert_eq!(out, wa_node::USAGE);
        assert!(out.contains("wa-node encode [--frame] JSON|-"));
    }
}
