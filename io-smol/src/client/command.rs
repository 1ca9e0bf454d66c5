//! What a [`Client`](super::Client) handle asks the driver to do, and how
//! the driver runs it on the connection.

use std::time::Duration;

use async_channel::Sender;
use wa_core::binary::Node;
use wa_core::connection::{Connection, SendError};
use wa_core::time::Instant;

use super::driver::Driver;
use super::error::RequestError;
use super::session::Session;

pub(crate) type Reply<T> = Sender<Result<T, RequestError>>;

/// What a [`Client`](super::Client) handle asks the driver to do.
pub(crate) enum Command {
    SendNode {
        node: Node,
        reply: Reply<()>,
    },
    SendIq {
        iq: Node,
        timeout: Duration,
        reply: Reply<Node>,
    },
    Logout {
        reply: Reply<()>,
    },
    RequestPairCode {
        phone: String,
        show_push_notification: bool,
        reply: Reply<()>,
    },
}

impl Command {
    /// Answers the command with `error` without running it.
    pub(super) fn fail(self, error: RequestError) {
        match self {
            Command::SendNode { reply, .. }
            | Command::Logout { reply }
            | Command::RequestPairCode { reply, .. } => {
                let _ = reply.try_send(Err(error));
            }
            Command::SendIq { reply, .. } => {
                let _ = reply.try_send(Err(error));
            }
        }
    }
}

impl Driver {
    pub(super) fn on_command(
        &mut self,
        conn: &mut Connection,
        now: Instant,
        command: Command,
        session: &mut Session,
    ) {
        match command {
            Command::SendNode { node, reply } => {
                let _ = reply.try_send(conn.send_node(now, &node).map_err(send_error));
            }
            Command::SendIq { iq, timeout, reply } => {
                if session.pending.len() >= self.max_pending_iqs {
                    let _ = reply.try_send(Err(RequestError::TooManyPending(self.max_pending_iqs)));
                    return;
                }
                match conn.send_iq(now, iq, timeout) {
                    Ok(id) => {
                        session.pending.insert(id, reply);
                    }
                    Err(error) => {
                        let _ = reply.try_send(Err(send_error(error)));
                    }
                }
            }
            Command::RequestPairCode {
                phone,
                show_push_notification,
                reply,
            } => {
                let result = conn
                    .request_pair_code(now, &phone, show_push_notification)
                    .map_err(RequestError::PairCode);
                let _ = reply.try_send(result);
            }
            Command::Logout { reply } => match conn.logout(now) {
                Ok(id) => match &mut session.logout {
                    Some((_, waiters)) => waiters.push(reply),
                    None => session.logout = Some((id, vec![reply])),
                },
                Err(error) => {
                    let _ = reply.try_send(Err(send_error(error)));
                }
            },
        }
    }
}

/// A refused send, as the caller sees it.
pub(super) fn send_error(error: SendError) -> RequestError {
    match error {
        SendError::Handshaking | SendError::Closed | SendError::NotLoggedIn => {
            RequestError::NotConnected
        }
        other => RequestError::Send(other),
    }
}
