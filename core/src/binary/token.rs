//! The token dictionaries of dictionary version 3 and the wire tag bytes
//! (docs/protocol.md §4.2–§4.3).
//!
//! The tables are protocol facts kept as data in `core/data/tokens_v3.json`; the Rust
//! copy in `token/data.rs` is generated from it and checked against it by a test.
//!
//! Both directions are O(1) and allocation-free:
//! - index → string is an array access;
//! - string → index is one hash and (usually) one comparison in an open-addressing
//!   table that is built at compile time by a `const fn`, so there is no start-up cost,
//!   no lazy initialisation and no synchronisation on the hot path.

mod data;

/// The dictionary version these tables belong to.
pub const DICTIONARY_VERSION: u8 = 3;

/// The single-byte token table: `SINGLE_BYTE[b]` is the token for tag byte `b`
/// (1..=235). Index 0 is `""` and is never emitted, because byte 0 means LIST_EMPTY.
pub static SINGLE_BYTE: [&str; 236] = data::SINGLE_BYTE;

/// The four double-byte dictionaries: `DOUBLE_BYTE[tag - 236][index]`, for the tag
/// bytes DICTIONARY_0..DICTIONARY_3 (236..=239) followed by one index byte.
pub static DOUBLE_BYTE: [[&str; 256]; 4] = data::DOUBLE_BYTE;

/// The longest token, in bytes. Any longer string cannot be a token.
pub const MAX_TOKEN_LEN: usize = 48;

/// Wire tag bytes (docs/protocol.md §4.2).
pub mod tag {
    /// "null / empty list / no content".
    pub const LIST_EMPTY: u8 = 0;
    /// First double-byte dictionary tag; DICTIONARY_n is `DICTIONARY_0 + n`.
    pub const DICTIONARY_0: u8 = 236;
    /// Last double-byte dictionary tag.
    pub const DICTIONARY_3: u8 = 239;
    /// user(string), u16 device, u16 integrator, server(string "interop").
    pub const INTEROP_JID: u8 = 245;
    /// user(string), u16 device, server(string "msgr").
    pub const FB_JID: u8 = 246;
    /// u8 domain type, u8 device, user(string).
    pub const AD_JID: u8 = 247;
    /// A list with a u8 count.
    pub const LIST_8: u8 = 248;
    /// A list with a u16 count.
    pub const LIST_16: u8 = 249;
    /// user(string or LIST_EMPTY), server(string).
    pub const JID_PAIR: u8 = 250;
    /// Packed upper-case hex (docs/protocol.md §4.4).
    pub const HEX_8: u8 = 251;
    /// Bytes with a u8 length.
    pub const BINARY_8: u8 = 252;
    /// Bytes with a 20-bit length in 3 bytes.
    pub const BINARY_20: u8 = 253;
    /// Bytes with a u32 length.
    pub const BINARY_32: u8 = 254;
    /// Packed digits, `-` and `.` (docs/protocol.md §4.4).
    pub const NIBBLE_8: u8 = 255;
}

/// Where a token lives in the dictionaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Token {
    /// A single-byte token: written as this one byte (1..=235).
    Single(u8),
    /// A double-byte token: written as `236 + dict`, then `index`.
    Double {
        /// Which dictionary (0..=3).
        dict: u8,
        /// The index in that dictionary.
        index: u8,
    },
}

impl Token {
    /// The token's string.
    pub fn as_str(self) -> &'static str {
        match self {
            Token::Single(b) => SINGLE_BYTE[b as usize],
            Token::Double { dict, index } => DOUBLE_BYTE[(dict & 3) as usize][index as usize],
        }
    }

    pub(crate) fn from_id(id: TokenId) -> Token {
        let id = id.0 as usize;
        if id < SINGLE_COUNT {
            Token::Single(id as u8)
        } else {
            let d = id - SINGLE_COUNT;
            Token::Double {
                dict: (d >> 8) as u8,
                index: (d & 0xFF) as u8,
            }
        }
    }
}

/// Looks a string up in the dictionaries: single-byte first, then D0..D3 (the
/// encoder's order, docs/protocol.md §4.4). `""` is not a token.
pub fn lookup(s: &str) -> Option<Token> {
    lookup_id(s.as_bytes()).map(Token::from_id)
}

/// The single-byte token for tag byte `b`, if `b` is one (1..=235).
pub fn single_byte(b: u8) -> Option<&'static str> {
    match b {
        1..=235 => Some(SINGLE_BYTE[b as usize]),
        _ => None,
    }
}

/// The token at `index` of double-byte dictionary `dict` (0..=3).
pub fn double_byte(dict: u8, index: u8) -> Option<&'static str> {
    DOUBLE_BYTE
        .get(dict as usize)
        .map(|table| table[index as usize])
}

// ---- internal flat representation -------------------------------------------------

const SINGLE_COUNT: usize = 236;
const TOTAL: usize = SINGLE_COUNT + 4 * 256;

/// A token as one flat index: 1..236 for single-byte tokens, `236 + dict * 256 + index`
/// for double-byte ones. Index 0 (`""`) is never a valid `TokenId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct TokenId(u16);

impl TokenId {
    /// From a single-byte tag (caller guarantees 1..=235).
    #[inline]
    pub(crate) fn single(b: u8) -> TokenId {
        TokenId(b as u16)
    }

    /// From a dictionary tag offset (0..=3) and an index.
    #[inline]
    pub(crate) fn double(dict: u8, index: u8) -> TokenId {
        TokenId(SINGLE_COUNT as u16 + ((dict as u16 & 3) << 8) + index as u16)
    }

    #[inline]
    pub(crate) fn as_str(self) -> &'static str {
        ALL[self.0 as usize]
    }

    /// Appends the token's wire form (one or two bytes).
    #[inline]
    pub(crate) fn write(self, out: &mut Vec<u8>) {
        let id = self.0 as usize;
        if id < SINGLE_COUNT {
            out.push(id as u8);
        } else {
            let d = id - SINGLE_COUNT;
            out.extend_from_slice(&[tag::DICTIONARY_0 + (d >> 8) as u8, d as u8]);
        }
    }
}

const TABLE_BITS: u32 = 12;
const TABLE_SIZE: usize = 1 << TABLE_BITS;
const TABLE_MASK: usize = TABLE_SIZE - 1;

/// Open-addressing (linear probing) table from `hash(token)` to `TokenId`; 0 = empty.
/// 1259 tokens in 4096 slots: a load of 0.31, so a hit almost always takes one probe.
static TABLE: [u16; TABLE_SIZE] = {
    let mut table = [0u16; TABLE_SIZE];
    // Start at 1: index 0 is "" and must never match.
    let mut id = 1;
    while id < TOTAL {
        let mut slot = hash(ALL[id].as_bytes());
        while table[slot] != 0 {
            slot = (slot + 1) & TABLE_MASK;
        }
        table[slot] = id as u16;
        id += 1;
    }
    table
};

/// Every token, single-byte then D0..D3, indexed by `TokenId`.
static ALL: [&str; TOTAL] = {
    let mut all = [""; TOTAL];
    let mut i = 0;
    while i < SINGLE_COUNT {
        all[i] = data::SINGLE_BYTE[i];
        i += 1;
    }
    let mut d = 0;
    while d < 4 {
        let mut j = 0;
        while j < 256 {
            all[SINGLE_COUNT + d * 256 + j] = data::DOUBLE_BYTE[d][j];
            j += 1;
        }
        d += 1;
    }
    all
};

/// A fast multiplicative hash over 8-byte words (tokens are at most 48 bytes), giving
/// a `TABLE_BITS`-bit slot. `const` so the table is built by the compiler.
#[inline]
const fn hash(b: &[u8]) -> usize {
    let len = b.len();
    let mut h: u64 = (len as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut rest = b;
    while rest.len() >= 8 {
        let (word, tail) = rest.split_at(8);
        let w = u64::from_le_bytes([
            word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
        ]);
        h = (h ^ w).wrapping_mul(0xA076_1D64_78BD_642F);
        h ^= h >> 29;
        rest = tail;
    }
    let mut buf = [0u8; 8];
    let (head, _) = buf.split_at_mut(rest.len());
    head.copy_from_slice(rest);
    h = (h ^ u64::from_le_bytes(buf)).wrapping_mul(0xE703_7ED1_A0B4_28DB);
    (h >> (64 - TABLE_BITS)) as usize
}

/// The flat token id of `s`, if it is a token.
#[inline]
pub(crate) fn lookup_id(s: &[u8]) -> Option<TokenId> {
    if s.is_empty() || s.len() > MAX_TOKEN_LEN {
        return None;
    }
    let mut slot = hash(s);
    loop {
        let id = TABLE[slot];
        if id == 0 {
            return None;
        }
        if ALL[id as usize].as_bytes() == s {
            return Some(TokenId(id));
        }
        slot = (slot + 1) & TABLE_MASK;
    }
}

/// Compile-time lookup, for constant tables elsewhere (e.g. server tokens).
pub(crate) const fn lookup_id_const(s: &str) -> Option<TokenId> {
    let s = s.as_bytes();
    if s.is_empty() || s.len() > MAX_TOKEN_LEN {
        return None;
    }
    let mut slot = hash(s);
    loop {
        let id = TABLE[slot];
        if id == 0 {
            return None;
        }
        if const_eq(ALL[id as usize].as_bytes(), s) {
            return Some(TokenId(id));
        }
        slot = (slot + 1) & TABLE_MASK;
    }
}

const fn const_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_token_is_found_at_its_own_index() {
        for (id, s) in ALL.iter().enumerate().skip(1) {
            assert_eq!(lookup_id(s.as_bytes()), Some(TokenId(id as u16)), "{s}");
            assert_eq!(lookup_id_const(s), Some(TokenId(id as u16)), "{s}");
        }
    }

    #[test]
    fn probe_lengths_are_short() {
        // Not a timing assertion: a structural property of the table. With a load of
        // 0.31 the longest linear-probe run should stay small.
        let mut worst = 0;
        for (id, s) in ALL.iter().enumerate().skip(1) {
            let mut slot = hash(s.as_bytes());
            let mut probes = 1;
            while TABLE[slot] as usize != id {
                slot = (slot + 1) & TABLE_MASK;
                probes += 1;
            }
            worst = worst.max(probes);
        }
        assert!(worst <= 8, "worst probe length {worst}");
    }

    #[test]
    fn non_tokens_are_not_found() {
        for s in [
            "",
            "x-not-a-token",
            "IQ",
            "iq ",
            "3EB0ABCDEF",
            &"a".repeat(49),
        ] {
            assert_eq!(lookup_id(s.as_bytes()), None, "{s}");
        }
    }
}
