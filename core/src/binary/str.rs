//! [`Str`]: the string type of tags, attribute keys and values in a [`Node`](super::Node).

use std::borrow::{Borrow, Cow};
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use smol_str::SmolStr;

use super::token::{self, Token, TokenId};

/// A string in a node: either a dictionary token (a `&'static str`, stored as its
/// index) or a small-string-optimised owned string.
///
/// This is where the codec saves most of its time:
/// - decoding a token allocates nothing, and re-encoding it needs no lookup;
/// - every constructor looks the string up in the token dictionaries once, so the
///   encoder never searches the dictionaries for a string built by the application;
/// - a string decoded from a raw or packed form is not looked up either (a canonical
///   encoder never sends a token that way); if a peer did, the string is written back
///   in the same form it arrived in, which every decoder accepts;
/// - other strings up to 23 bytes live inline (no allocation), longer ones in a shared
///   `Arc<str>`, so cloning is O(1). `Str` is three words.
///
/// `Str` compares, hashes and orders exactly like the `str` it holds.
#[derive(Clone)]
pub struct Str(pub(crate) Repr);

#[derive(Clone)]
pub(crate) enum Repr {
    /// A dictionary token.
    Token(TokenId),
    /// Any other string: not a token when built by a constructor; as it arrived when
    /// decoded from a raw or packed form.
    Text(SmolStr),
}

impl Str {
    /// A string, looked up in the token dictionaries.
    pub fn new(s: &str) -> Str {
        match token::lookup_id(s.as_bytes()) {
            Some(id) => Str(Repr::Token(id)),
            None => Str(Repr::Text(SmolStr::new(s))),
        }
    }

    /// A `'static` string: never allocates.
    pub fn from_static(s: &'static str) -> Str {
        match token::lookup_id(s.as_bytes()) {
            Some(id) => Str(Repr::Token(id)),
            None => Str(Repr::Text(SmolStr::new_static(s))),
        }
    }

    /// The empty string.
    pub const fn empty() -> Str {
        Str(Repr::Text(SmolStr::new_inline("")))
    }

    #[inline]
    pub(crate) fn token_id(id: TokenId) -> Str {
        Str(Repr::Token(id))
    }

    /// A string decoded from a raw or packed form, kept as it arrived (not looked up).
    #[inline]
    pub(crate) fn decoded(s: SmolStr) -> Str {
        Str(Repr::Text(s))
    }

    /// From an owned small string, looked up in the token dictionaries.
    pub(crate) fn from_smol(s: SmolStr) -> Str {
        match token::lookup_id(s.as_bytes()) {
            Some(id) => Str(Repr::Token(id)),
            None => Str(Repr::Text(s)),
        }
    }

    /// Into a small string (a token becomes a static one: no allocation).
    pub(crate) fn into_smol(self) -> SmolStr {
        match self.0 {
            Repr::Token(id) => SmolStr::new_static(id.as_str()),
            Repr::Text(s) => s,
        }
    }

    /// The string.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Token(id) => id.as_str(),
            Repr::Text(s) => s.as_str(),
        }
    }

    /// The dictionary token this string is, if any.
    pub fn token(&self) -> Option<Token> {
        match &self.0 {
            Repr::Token(id) => Some(Token::from_id(*id)),
            Repr::Text(s) => token::lookup(s),
        }
    }
}

impl Default for Str {
    fn default() -> Self {
        Str::empty()
    }
}

impl Deref for Str {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Str {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Str {
    #[inline]
    fn eq(&self, other: &Str) -> bool {
        match (&self.0, &other.0) {
            (Repr::Token(a), Repr::Token(b)) => a == b,
            _ => self.as_str() == other.as_str(),
        }
    }
}

impl Eq for Str {}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Str {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<Str> for str {
    fn eq(&self, other: &Str) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Str> for &str {
    fn eq(&self, other: &Str) -> bool {
        *self == other.as_str()
    }
}

impl PartialOrd for Str {
    fn partial_cmp(&self, other: &Str) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Str {
    fn cmp(&self, other: &Str) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Str {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Str {
    fn from(s: &str) -> Str {
        Str::new(s)
    }
}

impl From<&String> for Str {
    fn from(s: &String) -> Str {
        Str::new(s)
    }
}

impl From<String> for Str {
    fn from(s: String) -> Str {
        Str::from_smol(SmolStr::from(s))
    }
}

impl From<Box<str>> for Str {
    fn from(s: Box<str>) -> Str {
        Str::from_smol(SmolStr::from(s))
    }
}

impl From<Cow<'_, str>> for Str {
    fn from(s: Cow<'_, str>) -> Str {
        match s {
            Cow::Borrowed(s) => Str::new(s),
            Cow::Owned(s) => Str::from(s),
        }
    }
}

impl From<&Str> for Str {
    fn from(s: &Str) -> Str {
        s.clone()
    }
}

impl From<Str> for String {
    fn from(s: Str) -> String {
        s.as_str().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn str_is_three_words() {
        assert_eq!(std::mem::size_of::<Str>(), 24);
    }

    #[test]
    fn constructors_resolve_tokens() {
        assert!(matches!(Str::new("iq").0, Repr::Token(_)));
        assert!(matches!(Str::from_static("pair-device").0, Repr::Token(_)));
        assert!(matches!(
            Str::from(String::from("s.whatsapp.net")).0,
            Repr::Token(_)
        ));
        assert!(matches!(Str::new("not-a-token-at-all").0, Repr::Text(_)));
        assert_eq!(Str::new("iq"), Str::decoded(SmolStr::new("iq")));
        assert_eq!(Str::new("iq").token(), Some(Token::Single(25)));
        assert_eq!(
            Str::decoded(SmolStr::new("iq")).token(),
            Some(Token::Single(25))
        );
    }
}
