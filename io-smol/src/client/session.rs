//! One connection's bookkeeping beside the [`Connection`](wa_core::connection::Connection),
//! and the mapping from its events to store calls and application events.
//! The decisions (what to persist, whether to reconnect, when the account is
//! logged out) are the connection's; this module carries them out.

use std::collections::HashMap;
use std::sync::Arc;

use wa_core::binary::{Jid, Node};
use wa_core::connection::{
    DisconnectReason, Event as CoreEvent, IqError, IqId, Reconnect, StreamError,
};
use wa_core::store::{Device, StoreError};

use super::command::Reply;
use super::driver::Driver;
use super::error::{RequestError, error_chain};
use super::event::{Event, StopReason};

/// What comes after one connection (or one failed attempt).
pub(super) enum After {
    Stop(StopReason),
    /// Connect again at once: the restart the server asks for right after
    /// pairing.
    ReconnectNow,
    /// Connect again after the backoff delay.
    Retry {
        rate_limited: bool,
        error: String,
    },
}

/// The state of one connection that the driver keeps beside the
/// [`Connection`].
#[derive(Default)]
pub(super) struct Session {
    /// Callers awaiting an IQ answer, by id.
    pub(super) pending: HashMap<IqId, Reply<Node>>,
    /// The logout request in flight and whoever awaits it.
    pub(super) logout: Option<(IqId, Vec<Reply<()>>)>,
    /// The credentials were wiped on this connection.
    pub(super) logged_out: bool,
    /// Set when the connection has ended (or must end without another byte
    /// sent).
    pub(super) after: Option<After>,
    /// Stop without flushing the queued bytes (the device could not be saved,
    /// so the reply that depends on it must not leave).
    pub(super) abort: bool,
}

impl Session {
    /// [`CoreEvent::IqResponse`]: answers whoever waits for `id`.
    fn answer(&mut self, id: &IqId, result: Result<Node, IqError>) {
        if self.logout.as_ref().is_some_and(|(logout, _)| logout == id) {
            // The core answers a logout here only with an error.
            let waiters = self.logout.take().map(|(_, w)| w).unwrap_or_default();
            let error = result.err().unwrap_or(IqError::Disconnected);
            reply_all(waiters, Err(RequestError::Iq(error)));
        } else if let Some(reply) = self.pending.remove(id) {
            let _ = reply.try_send(result.map_err(RequestError::Iq));
        }
    }
}

impl Driver {
    /// Maps one core event to store calls and application events.
    pub(super) async fn on_connection_event(
        &mut self,
        event: CoreEvent,
        session: &mut Session,
        attempt: &mut u32,
    ) {
        match event {
            CoreEvent::DeviceChanged { device } => self.on_device_changed(*device).await,
            CoreEvent::LoggedIn {
                server_time, lid, ..
            } => {
                *attempt = 0;
                tracing::info!("logged in as {}", display_jid(self.device.pn.as_ref()));
                let jid = self.device.pn.clone();
                self.emit(Event::LoggedIn {
                    jid,
                    lid,
                    server_time,
                })
                .await;
            }
            CoreEvent::Qr { code, expires_at } => {
                tracing::info!("waiting for a scan of the qr code");
                let expires_at = self.to_std(expires_at);
                self.emit(Event::Qr { code, expires_at }).await;
            }
            CoreEvent::QrExhausted => {
                tracing::info!("every qr code expired without a scan");
                self.emit(Event::QrExhausted).await;
            }
            CoreEvent::PairCode { code, expires_at } => {
                let expires_at = self.to_std(expires_at);
                self.emit(Event::PairCode { code, expires_at }).await;
            }
            CoreEvent::PairingFailed { error } => {
                tracing::warn!("pairing step failed: {error}");
                self.emit(Event::PairingFailed { error }).await;
            }
            CoreEvent::PairSuccess { device } => {
                self.on_pair_success(*device, session, attempt).await
            }
            CoreEvent::Stanza(node) => self.emit(Event::Stanza(node)).await,
            CoreEvent::IqResponse { id, result } => session.answer(&id, result),
            CoreEvent::LoggedOut => self.on_logged_out(session).await,
            CoreEvent::Disconnected { reason, reconnect } => {
                self.on_disconnected(reason, reconnect, session).await
            }
            _ => tracing::debug!("connection event not handled by this client"),
        }
    }

    /// [`CoreEvent::DeviceChanged`]: persist it. Not fatal if it fails: the
    /// device still logs in, and the next change (or the next login) saves it
    /// again.
    async fn on_device_changed(&mut self, device: Device) {
        self.device = device;
        if let Err(error) = self.save_device().await {
            tracing::warn!("could not save the device: {}", error_chain(&*error));
        }
    }

    /// [`CoreEvent::LoggedOut`]: the server confirmed our logout.
    async fn on_logged_out(&mut self, session: &mut Session) {
        match self.logged_out(session).await {
            Ok(()) => self.emit(Event::LoggedOut { reason: None }).await,
            Err(error) => {
                // Stop without sending another byte.
                session.after = Some(After::Stop(StopReason::Store(error)));
                session.abort = true;
            }
        }
    }

    /// [`CoreEvent::PairSuccess`]: persist before anything else. The reply
    /// that completes the link is still queued and leaves only if this
    /// succeeds, and the reconnect that follows logs in with this record.
    async fn on_pair_success(&mut self, device: Device, session: &mut Session, attempt: &mut u32) {
        self.device = device;
        match self.save_device().await {
            Ok(()) => {
                *attempt = 0;
                tracing::info!("linked as {}", display_jid(self.device.pn.as_ref()));
                self.emit(Event::Paired {
                    jid: self.device.pn.clone(),
                    lid: self.device.lid.clone(),
                    push_name: self.device.push_name.clone(),
                })
                .await;
            }
            Err(error) => {
                tracing::error!("could not save the linked device: {}", error_chain(&*error));
                session.after = Some(After::Stop(StopReason::Store(error)));
                session.abort = true;
            }
        }
    }

    /// The account is logged out: wipes the credentials and answers the
    /// logout callers with the outcome.
    async fn logged_out(&mut self, session: &mut Session) -> Result<(), Arc<StoreError>> {
        let waiters = session.logout.take().map(|(_, w)| w).unwrap_or_default();
        let wiped = self.wipe_credentials().await;
        session.logged_out = wiped.is_ok();
        reply_all(waiters, wiped.clone().map_err(RequestError::Store));
        wiped
    }

    /// [`CoreEvent::Disconnected`]: carries out the connection's decision,
    /// unless the client was asked to stop.
    async fn on_disconnected(
        &mut self,
        reason: DisconnectReason,
        reconnect: Reconnect,
        session: &mut Session,
    ) {
        let after = if session.logged_out {
            After::Stop(StopReason::LoggedOut)
        } else if reconnect.is_logged_out() {
            match self.logged_out(session).await {
                Ok(()) => After::Stop(StopReason::LoggedOut),
                Err(error) => After::Stop(StopReason::Store(error)),
            }
        } else {
            // A logout whose answer the connection's end cut off.
            let waiters = session.logout.take().map(|(_, w)| w).unwrap_or_default();
            reply_all(waiters, Err(RequestError::Iq(IqError::Disconnected)));
            match (self.requested_stop(), reconnect) {
                (Some(requested), _) => After::Stop(requested),
                (None, Reconnect::Now) => After::ReconnectNow,
                (None, Reconnect::AfterBackoff { rate_limited }) => After::Retry {
                    rate_limited,
                    error: reason.to_string(),
                },
                (None, _) if reason == DisconnectReason::StreamError(StreamError::Replaced) => {
                    After::Stop(StopReason::Replaced)
                }
                (None, _) => After::Stop(StopReason::Refused(reason.clone())),
            }
        };
        let will_reconnect = matches!(after, After::ReconnectNow | After::Retry { .. });
        let suffix = if will_reconnect {
            ""
        } else {
            " (not reconnecting)"
        };
        tracing::info!("disconnected: {reason}{suffix}");
        self.emit(Event::Disconnected {
            reason: reason.clone(),
            reconnect: will_reconnect,
        })
        .await;
        if reconnect.is_logged_out() && matches!(after, After::Stop(StopReason::LoggedOut)) {
            self.emit(Event::LoggedOut {
                reason: Some(reason),
            })
            .await;
        }
        session.after = Some(after);
    }

    pub(super) async fn save_device(&mut self) -> Result<(), Arc<StoreError>> {
        let Some(backend) = &self.backend else {
            return Ok(());
        };
        // The messaging worker advances the one-time prekey counter and
        // rotates the signed prekey in the stored record: never write older
        // ones over them (ids must not be reused, the server hands out the
        // new key). The lock keeps the worker's commits out meanwhile.
        let _guard = self.store_lock.lock().await;
        if let Ok(Some(stored)) = backend.load().await
            && stored.identity_key.public == self.device.identity_key.public
        {
            self.device.next_pre_key_id = self.device.next_pre_key_id.max(stored.next_pre_key_id);
            // The signed prekey is the worker's too (it rotates it).
            self.device.signed_pre_key = stored.signed_pre_key;
            self.device.signed_pre_key_id = stored.signed_pre_key_id;
            self.device.signed_pre_key_signature = stored.signed_pre_key_signature;
            self.device.last_signed_pre_key_rotation_ms = stored.last_signed_pre_key_rotation_ms;
        }
        backend.save(&self.device).await.map_err(Arc::new)
    }

    /// Replaces the stored device with a fresh, unlinked identity: the old
    /// keys, account and JIDs are gone from the store.
    async fn wipe_credentials(&mut self) -> Result<(), Arc<StoreError>> {
        self.device = super::new_device(&mut self.rng);
        self.save_device().await
    }
}

/// Answers every logout waiter with `result`.
fn reply_all(waiters: Vec<Reply<()>>, result: Result<(), RequestError>) {
    for reply in waiters {
        let _ = reply.try_send(result.clone());
    }
}

/// A JID for a log line, `?` when there is none.
fn display_jid(jid: Option<&Jid>) -> String {
    jid.map_or_else(|| "?".to_owned(), ToString::to_string)
}
