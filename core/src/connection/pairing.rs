//! Pairing inside a registration connection (docs/protocol.md §6): the QR
//! sequence, `companion_reg_refresh`, pair-success, and pair-code linking.
//!
//! The crypto and the stanza shapes live in [`crate::pair`]; this module is
//! the state that ties them to one connection. It never writes bytes itself:
//! every step returns what to send, what to report and whether the connection
//! ends, in a [`Ctx`], and the [`Connection`](super::Connection) applies it.

use std::collections::VecDeque;

use bytes::Bytes;
use rand_chacha::ChaCha20Rng;
use rand_core::Rng as _;

use crate::binary::{Jid, Node, Server, Value};
use crate::noise::KeyPair;
use crate::pair::{
    self, MAX_PRIMARY_HELLO, PAIR_CODE_VALIDITY, PairCodeRequestError, PairError, PairSuccess,
    PairingOptions, PrimaryHello, QrData,
};
use crate::proto::device_props::PlatformType;
use crate::store::Device;

use super::event::{DisconnectReason, Event};
use super::iq::IdGenerator;
use crate::time::Instant;

/// At most this many refs of one `<pair-device>` are kept (real servers send
/// six); the rest are dropped.
const MAX_REFS: usize = 32;

/// A ref longer than this is skipped: it would not fit a scannable QR code.
const MAX_REF_LEN: usize = 512;

/// A `link_code_pairing_ref` longer than this is refused.
const MAX_PAIRING_REF_LEN: usize = 1024;

/// What one pairing step asks the connection to do.
pub(super) struct Ctx<'a> {
    pub(super) now: Instant,
    /// The device as pairing changes it (ADV secret rotations, the pair-code
    /// secret, then the linked identity); what `PairSuccess` reports.
    pub(super) device: &'a mut Device,
    pub(super) rng: &'a mut ChaCha20Rng,
    pub(super) ids: &'a mut IdGenerator,
    /// Stanzas to send, in order.
    pub(super) sends: Vec<Node>,
    /// Events to report, in order (before any disconnect).
    pub(super) events: Vec<Event>,
    /// End the connection with this reason, after the sends and events.
    pub(super) end: Option<DisconnectReason>,
}

impl Ctx<'_> {
    fn next_id(&mut self) -> String {
        self.ids.next_id().as_str().to_owned()
    }
}

/// Where a pair-code exchange stands (docs/protocol.md §6.3).
enum CodeStage {
    /// Requested before `<pair-device>`: the hello goes out when it arrives.
    Queued,
    /// `companion_hello` sent; waiting for the ref.
    AwaitingRef { iq_id: String },
    /// The code is shown; waiting for the phone's `primary_hello`.
    AwaitingPrimary { pairing_ref: Bytes },
    /// `companion_finish` sent; the ADV secret is the derived one and the next
    /// step is pair-success.
    Finished { pairing_ref: Bytes, iq_id: String },
}

struct CodeFlow {
    phone: String,
    code: String,
    ephemeral: KeyPair,
    wrapped: [u8; pair::WRAPPED_KEY_LEN],
    show_push_notification: bool,
    expires_at: Instant,
    primary_hellos: u32,
    stage: CodeStage,
}

/// Where the QR sequence stands (docs/protocol.md §6.1).
enum QrStage {
    /// No `<pair-device>` yet: nothing to show.
    AwaitingRefs,
    /// A ref is on screen until `expires_at`.
    Showing {
        current: String,
        expires_at: Instant,
    },
    /// Every ref was shown without a scan. The connection stays until
    /// `give_up_at` while a pair code can still complete, and ends at once
    /// otherwise.
    Exhausted { give_up_at: Option<Instant> },
    /// The device is linked; pairing is over on this connection.
    Paired,
}

/// The pairing state of a connection made for an unregistered device.
pub(super) struct Pairing {
    options: PairingOptions,
    platform: Option<PlatformType>,
    /// Refs not shown yet.
    refs: VecDeque<String>,
    qr: QrStage,
    code: Option<CodeFlow>,
}

impl Pairing {
    /// Pairing state for `device`, or `None` if it is registered (a login
    /// connection does not pair).
    pub(super) fn new(
        device: &Device,
        options: &PairingOptions,
        platform: Option<PlatformType>,
    ) -> Option<Pairing> {
        if device.is_registered() {
            return None;
        }
        Some(Pairing {
            options: options.clone(),
            platform,
            refs: VecDeque::new(),
            qr: QrStage::AwaitingRefs,
            code: None,
        })
    }

    /// Whether this connection linked the device.
    pub(super) fn is_paired(&self) -> bool {
        matches!(self.qr, QrStage::Paired)
    }

    /// The next time [`handle_timeout`](Self::handle_timeout) has work.
    pub(super) fn deadline(&self) -> Option<Instant> {
        match &self.qr {
            QrStage::Showing { expires_at, .. } => Some(*expires_at),
            QrStage::Exhausted { give_up_at } => *give_up_at,
            QrStage::AwaitingRefs | QrStage::Paired => None,
        }
    }

    /// Handles a stanza if it belongs to pairing; `false` leaves it to the
    /// connection.
    pub(super) fn handle_stanza(&mut self, ctx: &mut Ctx<'_>, node: &Node) -> bool {
        match node.tag.as_str() {
            "iq" => self.handle_iq(ctx, node),
            "notification" => self.handle_notification(ctx, node),
            _ => false,
        }
    }

    /// Rotates the QR or gives up, as the clock says.
    pub(super) fn handle_timeout(&mut self, ctx: &mut Ctx<'_>) {
        if matches!(self.qr, QrStage::Showing { expires_at, .. } if expires_at <= ctx.now) {
            self.show_next_qr(ctx, false);
        }
        if let QrStage::Exhausted {
            give_up_at: Some(at),
        } = self.qr
            && at <= ctx.now
        {
            self.qr = QrStage::Exhausted { give_up_at: None };
            ctx.end = Some(DisconnectReason::PairingExpired);
        }
    }

    // ----------------------------------------------------------------- iq

    fn handle_iq(&mut self, ctx: &mut Ctx<'_>, node: &Node) -> bool {
        match node.attr_str("type") {
            Some("set") => {}
            Some("result") | Some("error") => return self.handle_iq_answer(ctx, node),
            _ => return false,
        }
        let from_server = node
            .attr("from")
            .and_then(|v| v.to_jid().ok())
            .is_some_and(|jid| jid == Jid::server_jid(Server::Pn));
        let Some(id) = node.attr("id").map(|v| v.to_text().into_owned()) else {
            return false;
        };
        if !from_server {
            return false;
        }
        if let Some(pair_device) = node.child("pair-device") {
            self.on_pair_device(ctx, node, &id, pair_device);
            true
        } else if let Some(pair_success) = node.child("pair-success") {
            self.on_pair_success(ctx, &id, pair_success);
            true
        } else {
            false
        }
    }

    fn on_pair_device(&mut self, ctx: &mut Ctx<'_>, iq: &Node, id: &str, pair_device: &Node) {
        // Acknowledge at once (docs/protocol.md §6.1 step 3).
        let mut ack = Node::new("iq");
        if let Some(from) = iq.attr("from") {
            ack = ack.with_attr("to", from.clone());
        }
        ctx.sends
            .push(ack.with_attr("id", id).with_attr("type", "result"));
        if self.is_paired() {
            return;
        }
        self.refs = pair_device
            .children_by_tag("ref")
            .filter_map(Node::content_text)
            .filter(|r| !r.is_empty() && r.len() <= MAX_REF_LEN && !r.contains(','))
            .take(MAX_REFS)
            .map(str::to_owned)
            .collect();
        self.qr = QrStage::AwaitingRefs;
        self.show_next_qr(ctx, true);
        if matches!(
            self.code.as_ref().map(|c| &c.stage),
            Some(CodeStage::Queued)
        ) {
            self.send_companion_hello(ctx);
        }
    }

    /// Shows the next ref, or reports that the refs are used up.
    fn show_next_qr(&mut self, ctx: &mut Ctx<'_>, first: bool) {
        match self.refs.pop_front() {
            Some(pairing_ref) => self.show_qr(ctx, pairing_ref, first),
            None => {
                if !matches!(self.qr, QrStage::Exhausted { .. }) {
                    self.qr = QrStage::Exhausted { give_up_at: None };
                    ctx.events.push(Event::QrExhausted);
                }
                self.give_up_unless_code_alive(ctx);
            }
        }
    }

    /// Puts `pairing_ref` on screen: 60 s for the first code of a sequence,
    /// 20 s for each later one.
    fn show_qr(&mut self, ctx: &mut Ctx<'_>, pairing_ref: String, first: bool) {
        let ttl = if first {
            pair::FIRST_QR_TTL
        } else {
            pair::NEXT_QR_TTL
        };
        let expires_at = ctx.now + ttl;
        let code = QrData::for_device(&pairing_ref, ctx.device, pair::platform_id(self.platform))
            .encode(self.options.qr_deep_link);
        self.qr = QrStage::Showing {
            current: pairing_ref,
            expires_at,
        };
        ctx.events.push(Event::Qr { code, expires_at });
    }

    /// With the refs used up, the connection stays only while a pair code can
    /// still complete (whatsapp-rust); otherwise it ends now.
    fn give_up_unless_code_alive(&mut self, ctx: &mut Ctx<'_>) {
        if !matches!(self.qr, QrStage::Exhausted { .. }) {
            return;
        }
        match &self.code {
            Some(code) if code.expires_at > ctx.now => {
                self.qr = QrStage::Exhausted {
                    give_up_at: Some(code.expires_at),
                };
            }
            _ => {
                self.qr = QrStage::Exhausted { give_up_at: None };
                ctx.end = Some(DisconnectReason::PairingExpired);
            }
        }
    }

    fn on_pair_success(&mut self, ctx: &mut Ctx<'_>, id: &str, node: &Node) {
        if self.is_paired() {
            // Only one pair-success per connection is honoured.
            let error = PairError::Malformed("second pair-success");
            ctx.sends.push(pair::pair_error_reply(id, &error));
            return;
        }
        let mut random = [0u8; 64];
        ctx.rng.fill_bytes(&mut random);
        let verified = PairSuccess::from_node(node).and_then(|success| {
            pair::verify_device_identity(ctx.device, &success.device_identity, &random)
                .map(|signed| (success, signed))
        });
        match verified {
            Ok((success, signed)) => {
                ctx.sends.push(pair::pair_device_sign(id, &signed));
                *ctx.device = pair::apply_pair_success(ctx.device, &success, &signed);
                self.qr = QrStage::Paired;
                self.refs.clear();
                self.code = None;
                ctx.events.push(Event::PairSuccess {
                    device: Box::new(ctx.device.clone()),
                });
            }
            Err(error) => {
                ctx.sends.push(pair::pair_error_reply(id, &error));
                ctx.events.push(Event::PairingFailed { error });
            }
        }
    }

    /// The answer to one of our pair-code IQs.
    fn handle_iq_answer(&mut self, ctx: &mut Ctx<'_>, node: &Node) -> bool {
        let Some(id) = node.attr("id").map(|v| v.to_text()) else {
            return false;
        };
        let Some(code) = &mut self.code else {
            return false;
        };
        let is_error = node.attr_str("type") == Some("error");
        match &code.stage {
            CodeStage::AwaitingRef { iq_id } if *iq_id == id => {
                let pairing_ref = node
                    .child("link_code_companion_reg")
                    .and_then(|r| r.child("link_code_pairing_ref"))
                    .and_then(Node::content_bytes)
                    .filter(|r| !r.is_empty() && r.len() <= MAX_PAIRING_REF_LEN)
                    .cloned();
                match (is_error, pairing_ref) {
                    (false, Some(pairing_ref)) => {
                        ctx.events.push(Event::PairCode {
                            code: code.code.clone(),
                            expires_at: code.expires_at,
                        });
                        code.stage = CodeStage::AwaitingPrimary { pairing_ref };
                    }
                    (true, _) => self.code_failed(ctx, refused(node)),
                    (false, None) => {
                        self.code_failed(ctx, PairError::Malformed("link_code_pairing_ref"))
                    }
                }
                true
            }
            CodeStage::Finished { iq_id, .. } if *iq_id == id => {
                if is_error {
                    self.code_failed(ctx, refused(node));
                }
                true
            }
            _ => false,
        }
    }

    fn code_failed(&mut self, ctx: &mut Ctx<'_>, error: PairError) {
        self.code = None;
        ctx.events.push(Event::PairingFailed { error });
        self.give_up_unless_code_alive(ctx);
    }

    // ------------------------------------------------------- notifications

    fn handle_notification(&mut self, ctx: &mut Ctx<'_>, node: &Node) -> bool {
        let kind = node.attr_str("type");
        if !matches!(
            kind,
            Some("companion_reg_refresh") | Some("link_code_companion_reg")
        ) {
            return false;
        }
        // The caller never sees these, so the core owes the transport ack
        // (docs/protocol.md §5.4).
        if let (Some(id), Some(from)) = (node.attr("id"), node.attr("from")) {
            ctx.sends.push(
                Node::new("ack")
                    .with_attr("class", "notification")
                    .with_attr("id", id.clone())
                    .with_attr("to", from.clone())
                    .with_attr("type", Value::Str(kind.unwrap_or_default().into())),
            );
        }
        match kind {
            Some("companion_reg_refresh") => self.on_reg_refresh(ctx, node),
            _ => {
                if let Some(registration) = node.child("link_code_companion_reg") {
                    self.on_link_code(ctx, registration);
                }
            }
        }
        true
    }

    /// `companion_reg_refresh`: a new ADV secret and the QR sequence restarted
    /// on the current ref (docs/protocol.md §6.1 step 6).
    fn on_reg_refresh(&mut self, ctx: &mut Ctx<'_>, node: &Node) {
        let asks = node.child("companion_reg_refresh").is_some()
            || node.child("pair-device-rotate-qr").is_some();
        // After companion_finish the secret is the one the coming pair-success
        // is keyed with: rotating it would make that pairing fail
        // (whatsapp-rust keeps it too).
        let finishing = matches!(
            self.code.as_ref().map(|c| &c.stage),
            Some(CodeStage::Finished { .. })
        );
        if !asks || self.is_paired() || finishing {
            return;
        }
        ctx.device.rotate_adv_secret(ctx.rng);
        ctx.events.push(Event::DeviceChanged {
            device: Box::new(ctx.device.clone()),
        });
        if let QrStage::Showing { current, .. } = &self.qr {
            let current = current.clone();
            self.show_qr(ctx, current, true);
        }
    }

    fn on_link_code(&mut self, ctx: &mut Ctx<'_>, registration: &Node) {
        if registration.attr_str("stage") != Some("primary_hello") || self.is_paired() {
            return;
        }
        let Some(code) = &mut self.code else {
            return;
        };
        let expected_ref = match &code.stage {
            CodeStage::AwaitingPrimary { pairing_ref }
            | CodeStage::Finished { pairing_ref, .. } => pairing_ref.clone(),
            _ => return,
        };
        if code.expires_at <= ctx.now || code.primary_hellos >= MAX_PRIMARY_HELLO {
            return;
        }
        let hello = match PrimaryHello::from_node(registration) {
            Ok(hello) => hello,
            Err(error) => {
                ctx.events.push(Event::PairingFailed { error });
                return;
            }
        };
        // Checked before the expensive PBKDF2: a stanza that does not name our
        // ref costs nothing.
        if hello.pairing_ref != expected_ref {
            ctx.events.push(Event::PairingFailed {
                error: PairError::Malformed("link_code_pairing_ref"),
            });
            return;
        }
        code.primary_hellos += 1;
        match companion_finish(ctx, code, &hello) {
            Ok((adv_secret, finish)) => {
                ctx.device.adv_secret_key = adv_secret;
                let iq_id = ctx.next_id();
                ctx.sends.push(pair::companion_finish_iq(
                    &iq_id,
                    &code.phone,
                    &finish,
                    &ctx.device.identity_key.public,
                    &expected_ref,
                ));
                code.stage = CodeStage::Finished {
                    pairing_ref: expected_ref,
                    iq_id,
                };
            }
            Err(error) => ctx.events.push(Event::PairingFailed { error }),
        }
    }

    // ----------------------------------------------------------- pair code

    /// [`Connection::request_pair_code`](super::Connection::request_pair_code).
    pub(super) fn request_pair_code(
        &mut self,
        ctx: &mut Ctx<'_>,
        phone: &str,
        show_push_notification: bool,
    ) -> Result<(), PairCodeRequestError> {
        if self.is_paired() {
            return Err(PairCodeRequestError::NotPairing);
        }
        let phone =
            pair::normalize_phone_number(phone).ok_or(PairCodeRequestError::InvalidPhoneNumber)?;
        let code = pair::generate_pair_code(ctx.rng);
        let ephemeral = KeyPair::generate(ctx.rng);
        let mut salt = [0u8; 32];
        let mut iv = [0u8; 16];
        ctx.rng.fill_bytes(&mut salt);
        ctx.rng.fill_bytes(&mut iv);
        let wrapped = pair::wrap_key(&code, ephemeral.public_key(), &salt, &iv);
        self.code = Some(CodeFlow {
            phone,
            code,
            ephemeral,
            wrapped,
            show_push_notification,
            expires_at: ctx.now + PAIR_CODE_VALIDITY,
            primary_hellos: 0,
            stage: CodeStage::Queued,
        });
        if !matches!(self.qr, QrStage::AwaitingRefs) {
            self.send_companion_hello(ctx);
        }
        Ok(())
    }

    fn send_companion_hello(&mut self, ctx: &mut Ctx<'_>) {
        let Some(code) = &mut self.code else {
            return;
        };
        let iq_id = ctx.next_id();
        let display = pair::platform_display(self.platform, &self.options.display_os);
        ctx.sends.push(pair::companion_hello_iq(
            &iq_id,
            &code.phone,
            &code.wrapped,
            &ctx.device.noise_key.public,
            pair::platform_id(self.platform),
            &display,
            code.show_push_notification,
        ));
        code.stage = CodeStage::AwaitingRef { iq_id };
    }
}

/// Stage 2 on the companion (docs/protocol.md §6.3 steps 7–10): the wrapped key
/// bundle and the new ADV secret.
fn companion_finish(
    ctx: &mut Ctx<'_>,
    code: &CodeFlow,
    hello: &PrimaryHello,
) -> Result<([u8; 32], Vec<u8>), PairError> {
    let primary_ephemeral = pair::unwrap_key(&code.code, &hello.wrapped_primary_ephemeral)?;
    let ephemeral_shared = pair::x25519(code.ephemeral.private_key(), &primary_ephemeral)?;
    let identity_shared = pair::x25519(&ctx.device.identity_key.private, &hello.primary_identity)?;
    let mut random = [0u8; 32];
    let mut salt = [0u8; 32];
    let mut iv = [0u8; 12];
    ctx.rng.fill_bytes(&mut random);
    ctx.rng.fill_bytes(&mut salt);
    ctx.rng.fill_bytes(&mut iv);
    let bundle = pair::KeyBundle {
        companion_identity: ctx.device.identity_key.public,
        primary_identity: hello.primary_identity,
        random,
    };
    let wrapped = pair::encrypt_key_bundle(&ephemeral_shared, &bundle, &salt, &iv);
    let adv_secret = pair::derive_adv_secret(&ephemeral_shared, &identity_shared, &random);
    Ok((adv_secret, wrapped))
}

/// The `<error code text>` of an IQ error answer.
fn refused(node: &Node) -> PairError {
    let error = node.child("error");
    PairError::PairCodeRefused {
        code: error
            .and_then(|e| e.attr("code"))
            .and_then(|c| c.to_text().parse().ok())
            .unwrap_or(0),
        text: error
            .and_then(|e| e.attr("text"))
            .map(|t| t.to_text().chars().take(128).collect())
            .unwrap_or_default(),
    }
}
