//! A readable XML-like rendering of nodes for logs and tools.
//!
//! `{}` renders on one line; `{:#}` indents children by two spaces per level.
//! Attribute values and text are XML-escaped; byte content is lower-case hex.
//! Byte content longer than [`MAX_SHOWN_BYTES`] and text longer than
//! [`MAX_SHOWN_CHARS`] are cut, followed by a note of the full length, e.g.
//! `<enc type="msg">0a1b…(256 bytes)</enc>`.

use std::fmt::{self, Write};

use super::node::{Content, Node};

/// Bytes of binary content shown before it is cut.
pub const MAX_SHOWN_BYTES: usize = 64;
/// Characters of text content shown before it is cut.
pub const MAX_SHOWN_CHARS: usize = 256;

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pretty = f.alternate();
        write_node(f, self, 0, pretty)
    }
}

fn write_escaped(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    let mut rest = s;
    while let Some(i) = rest.find(['&', '<', '>', '"']) {
        f.write_str(&rest[..i])?;
        f.write_str(match rest.as_bytes()[i] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            _ => "&quot;",
        })?;
        rest = &rest[i + 1..];
    }
    f.write_str(rest)
}

fn indent(f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
    for _ in 0..depth {
        f.write_str("  ")?;
    }
    Ok(())
}

fn write_node(f: &mut fmt::Formatter<'_>, node: &Node, depth: usize, pretty: bool) -> fmt::Result {
    if pretty {
        indent(f, depth)?;
    }
    f.write_char('<')?;
    write_escaped(f, &node.tag)?;
    for attr in node.attrs.iter() {
        f.write_char(' ')?;
        write_escaped(f, &attr.key)?;
        f.write_str("=\"")?;
        write_escaped(f, &attr.value.to_text())?;
        f.write_char('"')?;
    }
    match &node.content {
        Content::None => return f.write_str("/>"),
        Content::Nodes(children) if children.is_empty() => return f.write_str("/>"),
        Content::Nodes(children) => {
            f.write_char('>')?;
            for child in children {
                if pretty {
                    f.write_char('\n')?;
                }
                write_node(f, child, depth + 1, pretty)?;
            }
            if pretty {
                f.write_char('\n')?;
                indent(f, depth)?;
            }
        }
        Content::Bytes(b) => {
            f.write_char('>')?;
            for byte in &b[..b.len().min(MAX_SHOWN_BYTES)] {
                write!(f, "{byte:02x}")?;
            }
            if b.len() > MAX_SHOWN_BYTES {
                write!(f, "…({} bytes)", b.len())?;
            }
        }
        Content::Text(s) => {
            f.write_char('>')?;
            match s.char_indices().nth(MAX_SHOWN_CHARS) {
                None => write_escaped(f, s)?,
                Some((cut, _)) => {
                    write_escaped(f, &s[..cut])?;
                    write!(f, "…({} chars)", s.chars().count())?;
                }
            }
        }
    }
    f.write_str("</")?;
    write_escaped(f, &node.tag)?;
    f.write_char('>')
}
