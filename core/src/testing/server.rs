//! [`TestServer`]: a sans-IO fake WhatsApp server.

use std::collections::VecDeque;
use std::fmt;
use std::io::Write as _;

use bytes::Bytes;
use prost::Message as _;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng as _, SeedableRng};

use crate::binary::{self, Jid, Node, Server};
use crate::cert::{CertDetails, build_cert_chain};
use crate::connection::StanzaCodec;
use crate::frame::{CONN_HEADER, EDGE_ROUTING_MAGIC, FrameDecoder, LENGTH_PREFIX_LEN};
use crate::noise::{ExpectClientFinish, ExpectClientHello, KeyPair, NoiseError, ServerHandshake};
use crate::proto::ClientPayload;

use super::TEST_UNIX_TIME;

/// How the server answers a completed handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginReply {
    /// `<success>` for a login payload, `<iq><pair-device>` for a registration
    /// payload.
    Auto,
    /// `<success t lid>`, whatever the payload.
    Success {
        /// The `lid` attribute, if any.
        lid: Option<Jid>,
    },
    /// `<failure reason=…>`.
    Failure {
        /// The reason code, e.g. `"401"`.
        reason: String,
    },
    /// `<iq from="s.whatsapp.net" type="set" xmlns="md"><pair-device><ref>…`.
    PairDevice,
    /// Nothing at all.
    Silent,
}

/// What the server does with a client IQ (other than keepalive pings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IqReply {
    /// `<iq type="result" id from>` with these children.
    Result(Vec<Node>),
    /// `<iq type="error" id from><error code text/></iq>`.
    Error {
        /// The error code.
        code: u16,
        /// The error text.
        text: String,
    },
    /// No answer: the answer is "lost". (Dropping encrypted bytes on the wire
    /// would desynchronise the cipher instead, as on a real connection.)
    Ignore,
}

/// A deliberate defect in the certificate chain the server presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainFault {
    /// A valid chain.
    None,
    /// The intermediate is signed by a root other than
    /// [`TestServer::root_public_key`].
    WrongRoot,
    /// The leaf certifies a key other than the server's Noise static key.
    LeafKeyMismatch,
}

/// How to build a [`TestServer`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerOptions {
    /// All of the server's keys and signatures derive from this seed.
    pub seed: [u8; 32],
    /// Intermediate validity `(notBefore, notAfter)`, unix seconds.
    pub intermediate_validity: (u64, u64),
    /// Leaf validity `(notBefore, notAfter)`, unix seconds.
    pub leaf_validity: (u64, u64),
    /// A deliberate chain defect.
    pub chain_fault: ChainFault,
}

impl ServerOptions {
    /// A valid chain around [`TEST_UNIX_TIME`]: intermediate from a year
    /// before to ten years after, leaf from 30 days before to a year after.
    pub fn new(seed: [u8; 32]) -> ServerOptions {
        const DAY: u64 = 86_400;
        ServerOptions {
            seed,
            intermediate_validity: (TEST_UNIX_TIME - 365 * DAY, TEST_UNIX_TIME + 3650 * DAY),
            leaf_validity: (TEST_UNIX_TIME - 30 * DAY, TEST_UNIX_TIME + 365 * DAY),
            chain_fault: ChainFault::None,
        }
    }
}

/// Something the client sent that the server could not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TestServerError {
    /// The stream did not start with the `WA 06 03` header (after an optional
    /// edge-routing pre-intro).
    #[error("bad connection intro")]
    BadIntro,
    /// A frame length over the limit.
    #[error("bad frame: {0}")]
    Frame(#[from] crate::frame::FrameDecodeError),
    /// A handshake message was refused.
    #[error("handshake: {0}")]
    Handshake(#[from] NoiseError),
    /// The ClientPayload is not a valid protobuf.
    #[error("bad client payload")]
    ClientPayload,
    /// A transport frame was refused.
    #[error("transport: {0}")]
    Transport(String),
}

// One server per connection, in one state at a time: size does not matter.
#[allow(clippy::large_enum_variant)]
enum State {
    /// Reading the optional edge-routing pre-intro and the `WA 06 03` header.
    Intro {
        buf: Vec<u8>,
        handshake: ExpectClientHello,
    },
    ExpectClientHello(ExpectClientHello),
    ExpectClientFinish(ExpectClientFinish),
    Transport(StanzaCodec),
    Failed,
}

type IqHandler = Box<dyn FnMut(&Node) -> IqReply>;

/// A sans-IO fake WhatsApp server for one connection.
///
/// Feed it the client's bytes with [`handle_input`](Self::handle_input) and
/// take its frames from [`poll_transmit`](Self::poll_transmit), one frame per
/// call (so a harness can target single frames). It has its own test root key
/// ([`root_public_key`](Self::root_public_key)) and a chain signed by it
/// (see [`ServerOptions`]).
///
/// Default behaviour: [`LoginReply::Auto`], keepalive pings answered
/// (`<iq type="result" t>`), other IQs answered with an empty result. Change
/// it with [`set_login_reply`](Self::set_login_reply),
/// [`set_answer_pings`](Self::set_answer_pings),
/// [`set_iq_handler`](Self::set_iq_handler) and
/// [`set_silent`](Self::set_silent); push stanzas, pings, stream errors and
/// garbage with the `send_*` methods.
///
/// It never panics on what the client sends: a refused input puts it in a
/// failed state ([`error`](Self::error)) in which it ignores everything.
pub struct TestServer {
    rng: ChaCha20Rng,
    root: KeyPair,
    state: State,
    decoder: FrameDecoder,
    out: VecDeque<Bytes>,
    login: LoginReply,
    answer_pings: bool,
    silent: bool,
    iq_handler: Option<IqHandler>,
    unix_time: u64,
    lid: Jid,
    lid_from_username: bool,
    next_id: u64,
    // What the client sent.
    edge_routing: Option<Vec<u8>>,
    client_static: Option<[u8; 32]>,
    client_payload: Option<ClientPayload>,
    received: Vec<Node>,
    pings_answered: usize,
    error: Option<TestServerError>,
}

impl TestServer {
    /// A server with a valid chain derived from `seed` ([`ServerOptions::new`]).
    pub fn new(seed: [u8; 32]) -> TestServer {
        TestServer::with_options(ServerOptions::new(seed))
    }

    /// A server built from `options`.
    pub fn with_options(options: ServerOptions) -> TestServer {
        let mut rng = ChaCha20Rng::from_seed(options.seed);
        let root = KeyPair::generate(&mut rng);
        let intermediate = KeyPair::generate(&mut rng);
        let static_key = KeyPair::generate(&mut rng);
        let ephemeral = KeyPair::generate(&mut rng);
        let other = KeyPair::generate(&mut rng);
        let inter = CertDetails {
            serial: 3,
            issuer_serial: 0,
            key: *intermediate.public_key(),
            not_before: options.intermediate_validity.0,
            not_after: options.intermediate_validity.1,
        };
        let leaf = CertDetails {
            serial: 329,
            issuer_serial: 3,
            key: match options.chain_fault {
                ChainFault::LeafKeyMismatch => *other.public_key(),
                _ => *static_key.public_key(),
            },
            not_before: options.leaf_validity.0,
            not_after: options.leaf_validity.1,
        };
        let signing_root = match options.chain_fault {
            ChainFault::WrongRoot => other.private_key(),
            _ => root.private_key(),
        };
        let chain = build_cert_chain(
            signing_root,
            &inter,
            intermediate.private_key(),
            &leaf,
            &mut rng,
        );
        let handshake = ServerHandshake::start(static_key, ephemeral, chain, &CONN_HEADER);
        TestServer {
            rng,
            root,
            state: State::Intro {
                buf: Vec::new(),
                handshake,
            },
            decoder: FrameDecoder::new(),
            out: VecDeque::new(),
            login: LoginReply::Auto,
            answer_pings: true,
            silent: false,
            iq_handler: None,
            unix_time: TEST_UNIX_TIME,
            lid: Jid::lid("98765000000001").with_device(7),
            lid_from_username: false,
            next_id: 1,
            edge_routing: None,
            client_static: None,
            client_payload: None,
            received: Vec::new(),
            pings_answered: 0,
            error: None,
        }
    }

    // ------------------------------------------------------------ scripting

    /// The test root public key the chain is signed with (put it in
    /// `Config::trusted_root`; [`config_for`](super::config_for) does).
    pub fn root_public_key(&self) -> [u8; 32] {
        *self.root.public_key()
    }

    /// How to answer the handshake (default [`LoginReply::Auto`]).
    pub fn set_login_reply(&mut self, reply: LoginReply) {
        self.login = reply;
    }

    /// Whether keepalive pings (`xmlns="w:p"`) are answered (default yes).
    pub fn set_answer_pings(&mut self, answer: bool) {
        self.answer_pings = answer;
    }

    /// Decides the answer to every client IQ other than keepalive pings and
    /// IQ results (default: an empty result).
    pub fn set_iq_handler(&mut self, handler: impl FnMut(&Node) -> IqReply + 'static) {
        self.iq_handler = Some(Box::new(handler));
    }

    /// A silent server sends nothing more, queued frames included, until
    /// unsilenced; it still reads what the client sends.
    pub fn set_silent(&mut self, silent: bool) {
        self.silent = silent;
        if silent {
            self.out.clear();
        }
    }

    /// The server's wall clock (the `t` attributes it sends).
    pub fn set_unix_time(&mut self, unix_time: u64) {
        self.unix_time = unix_time;
    }

    /// The LID sent in `<success>` by [`LoginReply::Auto`].
    pub fn set_lid(&mut self, lid: Jid) {
        self.lid = lid;
    }

    /// Gives every account its own LID in `<success>`
    /// ([`lid_user_of`] its phone number, with the device of the login)
    /// instead of the one fixed LID; for servers that several accounts use.
    pub fn set_lid_from_username(&mut self, on: bool) {
        self.lid_from_username = on;
    }

    // --------------------------------------------------------- observations

    /// The decoded ClientPayload, once the ClientFinish arrived.
    pub fn client_payload(&self) -> Option<&ClientPayload> {
        self.client_payload.as_ref()
    }

    /// The client's Noise static public key, once the ClientFinish arrived.
    pub fn client_static(&self) -> Option<&[u8; 32]> {
        self.client_static.as_ref()
    }

    /// The routing info of the client's edge-routing pre-intro, if it sent one.
    pub fn edge_routing(&self) -> Option<&[u8]> {
        self.edge_routing.as_deref()
    }

    /// Every stanza the client sent, in order.
    pub fn received(&self) -> &[Node] {
        &self.received
    }

    /// Takes the stanzas received so far.
    pub fn take_received(&mut self) -> Vec<Node> {
        std::mem::take(&mut self.received)
    }

    /// How many keepalive pings were answered.
    pub fn pings_answered(&self) -> usize {
        self.pings_answered
    }

    /// Whether the handshake is complete.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Transport(_))
    }

    /// Why the server stopped accepting input, if it did.
    pub fn error(&self) -> Option<&TestServerError> {
        self.error.as_ref()
    }

    // ---------------------------------------------------------------- sends

    /// Sends a stanza (uncompressed, flags `0x00`). Does nothing before the
    /// handshake is complete or when silent.
    pub fn send_node(&mut self, node: &Node) {
        if self.silent {
            return;
        }
        if let State::Transport(codec) = &mut self.state {
            let mut frame = Vec::new();
            if codec.write_node(node, &mut frame).is_ok() {
                self.out.push_back(frame.into());
            }
        }
    }

    /// Sends a stanza zlib-compressed (flags `0x02`), as the server does for
    /// large stanzas.
    pub fn send_node_compressed(&mut self, node: &Node) {
        let Ok(plain) = binary::marshal(node) else {
            return;
        };
        let mut zlib = flate2::write::ZlibEncoder::new(vec![0x02], flate2::Compression::default());
        if zlib.write_all(&plain[1..]).is_err() {
            return;
        }
        let Ok(payload) = zlib.finish() else {
            return;
        };
        self.send_encrypted_payload(&payload);
    }

    /// Encrypts `plaintext` as one transport frame, whatever it holds (e.g. a
    /// flags byte and bytes that are not a node).
    pub fn send_encrypted_payload(&mut self, plaintext: &[u8]) {
        if self.silent {
            return;
        }
        if let State::Transport(codec) = &mut self.state {
            let Ok(sealed) = codec.transport_mut().encrypt(plaintext) else {
                return;
            };
            self.push_plain_frame(&sealed);
        }
    }

    /// Sends raw bytes on the wire, outside any frame or encryption.
    pub fn send_garbage(&mut self, bytes: &[u8]) {
        if !self.silent {
            self.out.push_back(Bytes::copy_from_slice(bytes));
        }
    }

    /// Sends a server ping (`<iq type="get" xmlns="urn:xmpp:ping">`) and
    /// returns its id.
    pub fn send_ping(&mut self) -> String {
        let id = self.next_id();
        let ping = Node::new("iq")
            .with_attr("from", Jid::server_jid(Server::Pn))
            .with_attr("id", id.as_str())
            .with_attr("type", "get")
            .with_attr("xmlns", "urn:xmpp:ping");
        self.send_node(&ping);
        id
    }

    /// Sends `<stream:error [code]>[child]</stream:error>`.
    pub fn send_stream_error(&mut self, code: Option<&str>, child: Option<Node>) {
        let mut node = Node::new("stream:error");
        if let Some(code) = code {
            node = node.with_attr("code", code);
        }
        if let Some(child) = child {
            node = node.with_children([child]);
        }
        self.send_node(&node);
    }

    /// Sends `<failure reason=…>`.
    pub fn send_failure(&mut self, reason: &str) {
        self.send_node(&Node::new("failure").with_attr("reason", reason));
    }

    /// Sends `<xmlstreamend/>`.
    pub fn send_stream_end(&mut self) {
        self.send_node(&Node::new("xmlstreamend"));
    }

    /// The server's transport `(write, read)` counters, once established.
    pub fn transport_counters(&self) -> Option<(u64, u64)> {
        match &self.state {
            State::Transport(codec) => Some((
                codec.transport().write_counter(),
                codec.transport().read_counter(),
            )),
            _ => None,
        }
    }

    /// Test hook: moves the server's transport counters.
    pub fn set_transport_counters_for_testing(&mut self, write: u64, read: u64) {
        if let State::Transport(codec) = &mut self.state {
            codec.transport_mut().set_counters_for_testing(write, read);
        }
    }

    // ------------------------------------------------------------- sans-IO

    /// The next frame (or garbage chunk) to deliver to the client.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.out.pop_front()
    }

    /// Bytes from the client, split anywhere.
    pub fn handle_input(&mut self, data: &[u8]) {
        let data = match &mut self.state {
            State::Failed => return,
            State::Intro { buf, .. } => {
                buf.extend_from_slice(data);
                match parse_intro(buf) {
                    IntroParse::NeedMore => return,
                    IntroParse::Bad => return self.fail(TestServerError::BadIntro),
                    IntroParse::Done { routing, consumed } => {
                        let rest = buf.split_off(consumed);
                        self.edge_routing = routing;
                        let State::Intro { handshake, .. } =
                            std::mem::replace(&mut self.state, State::Failed)
                        else {
                            return;
                        };
                        self.state = State::ExpectClientHello(handshake);
                        rest
                    }
                }
            }
            _ => data.to_vec(),
        };
        let mut decoder = std::mem::take(&mut self.decoder);
        let result = decoder.decode(&data, |frame| self.handle_frame(frame));
        self.decoder = decoder;
        if let Err(e) = result {
            self.fail(e.into());
        }
    }

    fn fail(&mut self, error: TestServerError) {
        if self.error.is_none() {
            self.error = Some(error);
        }
        self.state = State::Failed;
    }

    /// The LID a login's `<success>` names: the fixed one, or (with
    /// [`set_lid_from_username`](Self::set_lid_from_username)) one per
    /// account.
    fn login_lid(&self) -> Jid {
        match (&self.client_payload, self.lid_from_username) {
            (Some(payload), true) => match payload.username {
                Some(user) => Jid::lid(&lid_user_of(&user.to_string()))
                    .with_device(payload.device.unwrap_or(0) as u16),
                None => self.lid.clone(),
            },
            _ => self.lid.clone(),
        }
    }

    fn next_id(&mut self) -> String {
        let id = format!("srv-{}", self.next_id);
        self.next_id += 1;
        id
    }

    fn handle_frame(&mut self, frame: Bytes) {
        match std::mem::replace(&mut self.state, State::Failed) {
            State::Failed | State::Intro { .. } => {}
            State::ExpectClientHello(handshake) => match handshake.read_client_hello(&frame) {
                Ok((next, hello)) => {
                    self.state = State::ExpectClientFinish(next);
                    self.push_plain_frame(&hello);
                }
                Err(e) => self.fail(e.into()),
            },
            State::ExpectClientFinish(handshake) => match handshake.read_client_finish(&frame) {
                Ok(finished) => {
                    self.client_static = Some(finished.client_static);
                    match ClientPayload::decode(&finished.client_payload[..]) {
                        Ok(payload) => {
                            self.client_payload = Some(payload);
                            self.state = State::Transport(StanzaCodec::new(finished.transport));
                            self.answer_login();
                        }
                        Err(_) => self.fail(TestServerError::ClientPayload),
                    }
                }
                Err(e) => self.fail(e.into()),
            },
            State::Transport(mut codec) => match codec.read_frame(frame) {
                Ok(node) => {
                    self.state = State::Transport(codec);
                    self.handle_stanza(node);
                }
                Err(e) => self.fail(TestServerError::Transport(e.to_string())),
            },
        }
    }

    fn push_plain_frame(&mut self, payload: &[u8]) {
        if self.silent {
            return;
        }
        let mut frame = Vec::with_capacity(LENGTH_PREFIX_LEN + payload.len());
        let len = payload.len() as u32;
        frame.extend_from_slice(&len.to_be_bytes()[1..]);
        frame.extend_from_slice(payload);
        self.out.push_back(frame.into());
    }

    fn answer_login(&mut self) {
        let registering = self
            .client_payload
            .as_ref()
            .is_some_and(|p| p.username.is_none());
        let reply = match &self.login {
            LoginReply::Auto if registering => LoginReply::PairDevice,
            LoginReply::Auto => LoginReply::Success {
                lid: Some(self.login_lid()),
            },
            other => other.clone(),
        };
        match reply {
            LoginReply::Auto | LoginReply::Silent => {}
            LoginReply::Success { lid } => {
                let mut success = Node::new("success").with_attr("t", self.unix_time.to_string());
                if let Some(lid) = lid {
                    success = success.with_attr("lid", lid);
                }
                self.send_node(&success);
            }
            LoginReply::Failure { reason } => self.send_failure(&reason),
            LoginReply::PairDevice => {
                let id = self.next_id();
                let refs = (0..6).map(|_| {
                    let mut r = [0u8; 16];
                    self.rng.fill_bytes(&mut r);
                    let text: String = r.iter().map(|b| format!("{b:02x}")).collect();
                    Node::new("ref").with_bytes(text.into_bytes())
                });
                let refs: Vec<Node> = refs.collect();
                let iq = Node::new("iq")
                    .with_attr("from", Jid::server_jid(Server::Pn))
                    .with_attr("type", "set")
                    .with_attr("id", id)
                    .with_attr("xmlns", "md")
                    .with_children([Node::new("pair-device").with_children(refs)]);
                self.send_node(&iq);
            }
        }
    }

    fn handle_stanza(&mut self, node: Node) {
        let is_iq = node.tag == "iq";
        let ty = node.attr_str("type").map(str::to_owned);
        let id = node.attr("id").map(|v| v.to_text().into_owned());
        self.received.push(node);
        if !is_iq || !matches!(ty.as_deref(), Some("get") | Some("set")) {
            return;
        }
        let Some(id) = id else { return };
        let Some(node) = self.received.last() else {
            return;
        };
        let reply = if node.attr_str("xmlns") == Some("w:p") {
            if !self.answer_pings {
                return;
            }
            self.pings_answered += 1;
            IqReply::Result(Vec::new())
        } else {
            match &mut self.iq_handler {
                Some(handler) => handler(node),
                None => IqReply::Result(Vec::new()),
            }
        };
        let base = Node::new("iq")
            .with_attr("from", Jid::server_jid(Server::Pn))
            .with_attr("id", id);
        let answer = match reply {
            IqReply::Ignore => return,
            IqReply::Result(children) => {
                let node = base
                    .with_attr("type", "result")
                    .with_attr("t", self.unix_time.to_string());
                if children.is_empty() {
                    node
                } else {
                    node.with_children(children)
                }
            }
            IqReply::Error { code, text } => {
                base.with_attr("type", "error")
                    .with_children([Node::new("error")
                        .with_attr("code", code.to_string())
                        .with_attr("text", text)])
            }
        };
        self.send_node(&answer);
    }
}

impl fmt::Debug for TestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Intro { .. } => "Intro",
            State::ExpectClientHello(_) => "ExpectClientHello",
            State::ExpectClientFinish(_) => "ExpectClientFinish",
            State::Transport(_) => "Transport",
            State::Failed => "Failed",
        };
        f.debug_struct("TestServer")
            .field("state", &state)
            .field("login", &self.login)
            .field("silent", &self.silent)
            .field("received", &self.received.len())
            .field("queued_frames", &self.out.len())
            .field("error", &self.error)
            .finish()
    }
}

enum IntroParse {
    NeedMore,
    Bad,
    Done {
        routing: Option<Vec<u8>>,
        consumed: usize,
    },
}

/// `[45 44 00 01 | len(3) | routing] 57 41 06 03` at the start of `buf`.
fn parse_intro(buf: &[u8]) -> IntroParse {
    let prefix_ok = |want: &[u8], have: &[u8]| {
        let n = want.len().min(have.len());
        want[..n] == have[..n]
    };
    let (routing, header_at) = if buf.first() == Some(&EDGE_ROUTING_MAGIC[0]) {
        if !prefix_ok(&EDGE_ROUTING_MAGIC, buf) {
            return IntroParse::Bad;
        }
        let Some(len) = buf.get(4..7) else {
            return IntroParse::NeedMore;
        };
        let len = usize::from(len[0]) << 16 | usize::from(len[1]) << 8 | usize::from(len[2]);
        let Some(routing) = buf.get(7..7 + len) else {
            return IntroParse::NeedMore;
        };
        (Some(routing.to_vec()), 7 + len)
    } else {
        (None, 0)
    };
    let rest = &buf[header_at.min(buf.len())..];
    if !prefix_ok(&CONN_HEADER, rest) {
        return IntroParse::Bad;
    }
    if rest.len() < CONN_HEADER.len() {
        return IntroParse::NeedMore;
    }
    IntroParse::Done {
        routing,
        consumed: header_at + CONN_HEADER.len(),
    }
}

/// The LID user the test servers give the phone-number user `pn_user`:
/// `9` followed by the number.
pub fn lid_user_of(pn_user: &str) -> String {
    format!("9{pn_user}")
}
