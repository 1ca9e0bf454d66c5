//! The token dictionaries (docs/protocol.md §4.3): the generated Rust tables match
//! `core/data/tokens_v3.json`, sizes, known indexes, and lookups in both directions.

use std::fmt::Write;

use wa_core::binary::token::{self, DOUBLE_BYTE, SINGLE_BYTE, Token};

const TOKENS_JSON: &str = include_str!("../data/tokens_v3.json");
const DATA_RS: &str = "src/binary/token/data.rs";

struct Tables {
    single: Vec<String>,
    double: Vec<Vec<String>>,
}

fn json_tables() -> Tables {
    let v: serde_json::Value = serde_json::from_str(TOKENS_JSON).expect("tokens json parses");
    let strings = |a: &serde_json::Value| -> Vec<String> {
        a.as_array()
            .expect("array")
            .iter()
            .map(|s| s.as_str().expect("string").to_owned())
            .collect()
    };
    Tables {
        single: strings(&v["single_byte"]),
        double: v["double_byte"]
            .as_array()
            .expect("array")
            .iter()
            .map(strings)
            .collect(),
    }
}

/// The exact text of `token/data.rs` for the JSON tables.
fn generate(t: &Tables) -> String {
    let mut o = String::new();
    o.push_str(
        "// Generated from core/data/tokens_v3.json by the `token_data_file_is_up_to_date` test in\n",
    );
    o.push_str(
        "// core/tests/binary_tokens.rs (run it with WA_BLESS=1 to regenerate). Do not edit by hand.\n\n",
    );
    o.push_str("/// The single-byte token table of dictionary version 3 (index 0 is unused).\n");
    o.push_str("#[rustfmt::skip]\n");
    writeln!(
        o,
        "pub(super) const SINGLE_BYTE: [&str; {}] = [",
        t.single.len()
    )
    .unwrap();
    for s in &t.single {
        writeln!(o, "    {s:?},").unwrap();
    }
    o.push_str("];\n\n");
    o.push_str("/// The four double-byte dictionaries of dictionary version 3.\n");
    o.push_str("#[rustfmt::skip]\n");
    writeln!(
        o,
        "pub(super) const DOUBLE_BYTE: [[&str; {}]; {}] = [",
        t.double[0].len(),
        t.double.len()
    )
    .unwrap();
    for table in &t.double {
        o.push_str("    [\n");
        for s in table {
            writeln!(o, "        {s:?},").unwrap();
        }
        o.push_str("    ],\n");
    }
    o.push_str("];\n");
    o
}

#[test]
fn token_data_file_is_up_to_date() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(DATA_RS);
    let expected = generate(&json_tables());
    if std::env::var_os("WA_BLESS").is_some() {
        std::fs::write(&path, &expected).expect("write token data");
    }
    let actual = std::fs::read_to_string(&path).expect("read token data");
    assert!(
        actual == expected,
        "{DATA_RS} does not match core/data/tokens_v3.json; rerun this test with WA_BLESS=1"
    );
}

#[test]
fn compiled_tables_equal_the_json_tables() {
    let t = json_tables();
    assert_eq!(t.single.len(), 236);
    assert_eq!(t.double.len(), 4);
    assert!(t.double.iter().all(|d| d.len() == 256));
    assert_eq!(SINGLE_BYTE.len(), 236);
    assert_eq!(DOUBLE_BYTE.len(), 4);
    for (i, s) in t.single.iter().enumerate() {
        assert_eq!(SINGLE_BYTE[i], s, "single {i}");
    }
    for (d, table) in t.double.iter().enumerate() {
        for (i, s) in table.iter().enumerate() {
            assert_eq!(DOUBLE_BYTE[d][i], s, "double {d}/{i}");
        }
    }
}

#[test]
fn known_indexes_from_protocol_md() {
    let single = [
        ("xmlstreamstart", 1),
        ("xmlstreamend", 2),
        ("s.whatsapp.net", 3),
        ("type", 4),
        ("participant", 5),
        ("from", 6),
        ("receipt", 7),
        ("id", 8),
        ("notification", 9),
        ("disappearing_mode", 10),
        ("status", 11),
        ("jid", 12),
        ("broadcast", 13),
        ("user", 14),
        ("devices", 15),
        ("to", 17),
        ("result", 20),
        ("class", 21),
        ("xmlns", 22),
        ("iq", 25),
        ("t", 26),
        ("ack", 27),
        ("g.us", 28),
        ("get", 41),
        ("urn:xmpp:ping", 43),
        ("success", 76),
        ("ping", 86),
        ("w:p", 87),
        ("set", 90),
        ("code", 112),
        ("lid", 118),
        ("stream:error", 157),
        ("error", 168),
        ("device-identity", 230),
        ("screen_height", 235),
    ];
    for (s, i) in single {
        assert_eq!(SINGLE_BYTE[i as usize], s);
        assert_eq!(token::lookup(s), Some(Token::Single(i)), "{s}");
        assert_eq!(token::single_byte(i), Some(s));
    }
    let double = [
        ("read-self", 0, 0),
        ("active", 0, 1),
        ("fbns", 0, 2),
        ("protocol", 0, 3),
        ("reaction", 0, 4),
        ("screen_width", 0, 5),
        ("heartbeat", 0, 6),
        ("deviceid", 0, 7),
        ("conflict", 0, 14),
        ("replaced", 0, 17),
        ("passive", 0, 24),
        ("mute_v2", 0, 255),
        ("reject", 1, 0),
        ("dirty", 1, 1),
        ("announcement", 1, 2),
        ("020", 1, 3),
        ("ref", 1, 80),
        ("pair-device", 1, 238),
        ("u_aud_limit_sil_restarts_test1", 1, 255),
        ("64", 2, 0),
        ("failure", 2, 60),
        ("1537", 2, 255),
        ("1724", 3, 0),
        ("profile_picture", 3, 1),
        ("1961", 3, 255),
    ];
    for (s, dict, index) in double {
        assert_eq!(DOUBLE_BYTE[dict as usize][index as usize], s);
        assert_eq!(token::lookup(s), Some(Token::Double { dict, index }), "{s}");
        assert_eq!(token::double_byte(dict, index), Some(s));
        assert_eq!(Token::Double { dict, index }.as_str(), s);
    }
}

#[test]
fn every_token_round_trips_through_lookup() {
    for (i, s) in SINGLE_BYTE.iter().enumerate().skip(1) {
        assert_eq!(token::lookup(s), Some(Token::Single(i as u8)), "{s}");
    }
    for (d, table) in DOUBLE_BYTE.iter().enumerate() {
        for (i, s) in table.iter().enumerate() {
            let t = Token::Double {
                dict: d as u8,
                index: i as u8,
            };
            assert_eq!(token::lookup(s), Some(t), "{s}");
            assert_eq!(t.as_str(), *s);
        }
    }
}

#[test]
fn tables_have_the_documented_shape() {
    let all = SINGLE_BYTE
        .iter()
        .skip(1)
        .chain(DOUBLE_BYTE.iter().flatten());
    let mut seen = std::collections::HashSet::new();
    for s in all {
        assert!(!s.is_empty(), "only index 0 is empty");
        assert!(s.len() <= token::MAX_TOKEN_LEN, "{s} is longer than 48");
        assert!(!s.contains('\0'), "tokens are NUL-free");
        assert!(seen.insert(*s), "{s} appears twice");
    }
    assert_eq!(SINGLE_BYTE[0], "");
    assert_eq!(seen.len(), 235 + 1024);
}

#[test]
fn non_tokens_and_out_of_range_indexes() {
    for s in [
        "",
        "IQ",
        "iq ",
        " iq",
        "not-a-token",
        "3EB0C5A2F4D1",
        "5511987650001",
    ] {
        assert_eq!(token::lookup(s), None, "{s:?}");
    }
    assert_eq!(token::lookup(&"a".repeat(49)), None);
    assert_eq!(token::single_byte(0), None);
    assert_eq!(token::single_byte(236), None);
    assert_eq!(token::single_byte(255), None);
    assert_eq!(token::double_byte(4, 0), None);
}
