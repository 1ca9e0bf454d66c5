//! `wa-node`: decode and encode WhatsApp binary nodes (docs/protocol.md §4), for debugging
//! captures.
//!
//! ```text
//! wa-node decode [--frame] [--json] HEX|-
//! wa-node encode [--frame] JSON|-
//! ```
//!
//! - `decode HEX` reads a binary node written as hex (whitespace between digits is
//!   ignored) and prints it as the XML-like text of `Node`'s `Display` (indented, one
//!   child per line; long binary content and text are cut). With `--json` it prints
//!   the JSON form documented on `wa_core::binary::Node` instead.
//! - `decode --frame HEX` reads a decrypted frame plaintext: the flags byte first, then
//!   the node, zlib-compressed when `flags & 0x02` (as the server sends large stanzas).
//! - `encode JSON` reads a node in the JSON form and prints its binary form as
//!   lower-case hex; `--frame` prepends the flags byte `00` (uncompressed, what clients
//!   send), giving the plaintext to encrypt.
//! - `-` in place of HEX or JSON reads it from standard input.
//!
//! `decode --json` output is accepted by `encode`, so the two form a round trip. The
//! JSON reader refuses documents nested deeper than serde_json's limit (127 levels of
//! arrays and objects: 63 levels of nodes, 62 with JID attributes at the bottom), so
//! the deepest nodes the decoder accepts (128 levels) print but do not read back. A
//! JID value travels as its text form, which has no room for an interop integrator.
//!
//! Exit status: 0 on success, 1 for input that is not valid (bad hex, bad JSON, a node
//! that does not decode or encode; the message names the error and, for decoding, the
//! byte offset), 2 for a usage error.
//!
//! ```text
//! $ cargo run -q -p wa-core --example wa-node -- decode f8091908ff8412b34a5f1657042911fa0003
//! <iq id="12.34-5" xmlns="w:p" type="get" to="s.whatsapp.net"/>
//! $ echo '{"tag":"iq","attrs":{"type":"get","to":{"jid":"s.whatsapp.net"}}}' \
//!     | cargo run -q -p wa-core --example wa-node -- encode --frame -
//! 00f80519042911fa0003
//! ```
//!
//! The program is [`run`]; `main` only connects it to the process. The tests in
//! `core/tests/wa_node_cli.rs` include this file and call [`run`] directly.

use std::io::{self, Read, Write};

use bytes::Bytes;
use wa_core::binary::{
    DecodeError, FLAG_COMPRESSED, Node, decode_frame, decode_node, encode_node, marshal,
};

/// The usage text, printed for `--help` and after a usage error.
pub(crate) const USAGE: &str = "\
usage: wa-node decode [--frame] [--json] HEX|-
       wa-node encode [--frame] JSON|-

  decode          hex binary node -> XML-like text (or JSON with --json)
  encode          JSON node -> hex binary node
  --frame         the hex is / should be a frame plaintext: flags byte first
                  (decode inflates it when flags & 0x02)
  --json          decode: print the JSON form instead of the text form
  -               read HEX or JSON from standard input
";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = run(
        &args,
        &mut io::stdin().lock(),
        &mut io::stdout().lock(),
        &mut io::stderr().lock(),
    );
    std::process::exit(code);
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Help,
    Decode {
        frame: bool,
        json: bool,
        input: String,
    },
    Encode {
        frame: bool,
        input: String,
    },
}

/// Runs the tool on `args` (without the program name). Writes the result to `stdout`
/// and messages to `stderr`; returns the exit status (0 ok, 1 bad input, 2 usage).
pub(crate) fn run(
    args: &[String],
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> i32 {
    let command = match parse_args(args) {
        Ok(command) => command,
        Err(msg) => {
            // Nothing useful can be done if stderr is gone.
            let _ = write!(stderr, "wa-node: {msg}\n{USAGE}");
            return 2;
        }
    };
    let result = match command {
        Command::Help => Ok(USAGE.to_owned()),
        Command::Decode { frame, json, input } => {
            read_input(&input, stdin).and_then(|text| decode(&text, frame, json))
        }
        Command::Encode { frame, input } => {
            read_input(&input, stdin).and_then(|text| encode(&text, frame))
        }
    };
    match result {
        Ok(out) => match stdout
            .write_all(out.as_bytes())
            .and_then(|()| stdout.flush())
        {
            Ok(()) => 0,
            Err(e) => {
                let _ = writeln!(stderr, "wa-node: cannot write the output: {e}");
                1
            }
        },
        Err(msg) => {
            let _ = writeln!(stderr, "wa-node: {msg}");
            1
        }
    }
}

fn parse_args(args: &[String]) -> Result<Command, String> {
    let mut sub = None;
    let mut frame = false;
    let mut json = false;
    let mut input = None;
    for arg in args {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--frame" => frame = true,
            "--json" => json = true,
            a if a.starts_with("--") => return Err(format!("unknown option {a}")),
            a if sub.is_none() => sub = Some(a),
            a if input.is_none() => input = Some(a.to_owned()),
            a => return Err(format!("unexpected argument {a:?}")),
        }
    }
    let Some(sub) = sub else {
        return Err("missing command (decode or encode)".to_owned());
    };
    let missing = || format!("{sub}: missing input (give it as an argument, or - for stdin)");
    match sub {
        "decode" => Ok(Command::Decode {
            frame,
            json,
            input: input.ok_or_else(missing)?,
        }),
        "encode" if json => Err("encode: --json applies to decode only".to_owned()),
        "encode" => Ok(Command::Encode {
            frame,
            input: input.ok_or_else(missing)?,
        }),
        other => Err(format!("unknown command {other:?} (decode or encode)")),
    }
}

/// The argument itself, or all of standard input for `-`.
fn read_input(arg: &str, stdin: &mut dyn Read) -> Result<String, String> {
    if arg != "-" {
        return Ok(arg.to_owned());
    }
    let mut text = String::new();
    stdin
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    Ok(text)
}

fn decode(hex_text: &str, frame: bool, json: bool) -> Result<String, String> {
    let digits: String = hex_text
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let bytes = Bytes::from(hex::decode(&digits).map_err(|e| format!("invalid hex: {e}"))?);
    let node = if frame {
        decode_frame(&bytes).map_err(|e| frame_error(&e, &bytes))?
    } else {
        decode_node(&bytes).map_err(|e| format!("cannot decode the node: {e}"))?
    };
    if json {
        let mut out = serde_json::to_string_pretty(&node)
            .map_err(|e| format!("cannot write the JSON form: {e}"))?;
        out.push('\n');
        Ok(out)
    } else {
        Ok(format!("{node:#}\n"))
    }
}

/// Says which bytes a frame decoding error's offset counts.
fn frame_error(e: &DecodeError, plaintext: &[u8]) -> String {
    let compressed = plaintext.first().is_some_and(|f| f & FLAG_COMPRESSED != 0);
    let note = match e {
        DecodeError::InvalidCompressed { .. } => " (offset in the frame, flags byte included)",
        _ if e.offset().is_none() => "",
        _ if compressed => " (offset in the inflated node)",
        _ => " (offset in the node, after the flags byte)",
    };
    format!("cannot decode the frame: {e}{note}")
}

fn encode(json_text: &str, frame: bool) -> Result<String, String> {
    let node: Node =
        serde_json::from_str(json_text).map_err(|e| format!("invalid JSON node: {e}"))?;
    let bytes = if frame {
        marshal(&node)
    } else {
        let mut out = Vec::new();
        encode_node(&node, &mut out).map(|()| out)
    }
    .map_err(|e| format!("cannot encode the node: {e}"))?;
    let mut out = hex::encode(bytes);
    out.push('\n');
    Ok(out)
}
