//! The client's error types: [`ClientError`] for starting, [`RequestError`]
//! for requests.

use std::error::Error as StdError;
use std::sync::Arc;

use wa_core::connection::{IqError, SendError};
use wa_core::pair::PairCodeRequestError;
use wa_core::store::StoreError;

/// Why [`ClientBuilder::start`](super::ClientBuilder::start) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The builder was not given a [`Backend`](wa_core::store::Backend).
    #[error("no backend configured")]
    NoBackend,
    /// The operating system's random source failed.
    #[error("os random source failed: {0}")]
    Rng(String),
    /// Loading or saving the device record failed.
    #[error("store failed: {}", error_chain(.0))]
    Store(#[source] StoreError),
}

/// Why a request ([`send_node`](super::Client::send_node),
/// [`send_iq`](super::Client::send_iq), [`logout`](super::Client::logout))
/// has no result. Never a hang: a request sent while the connection is down
/// fails at once, and one in flight when it drops fails with
/// [`IqError::Disconnected`].
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// There is no established connection right now (connecting, handshaking,
    /// waiting to reconnect), or, for a logout, no logged-in one.
    #[error("not connected")]
    NotConnected,
    /// The client has stopped.
    #[error("client stopped")]
    Stopped,
    /// Too many IQs await an answer already.
    #[error("too many requests in flight (limit {0})")]
    TooManyPending(usize),
    /// The connection refused the request (bad node, too large, not an iq).
    #[error("{0}")]
    Send(#[from] SendError),
    /// The IQ got an error, timed out, or the connection ended first.
    #[error("{0}")]
    Iq(#[from] IqError),
    /// A pair code cannot be requested (bad phone number, or the connection
    /// is not a pairing one).
    #[error("{0}")]
    PairCode(#[from] PairCodeRequestError),
    /// A message could not be sent (the server refused it, no device of the
    /// recipient could be reached, the store failed).
    #[error("message not sent: {0}")]
    SendFailed(String),
    /// The connection ended before the server acknowledged the message. It
    /// is stored and may have been delivered; the recipient's retry receipt,
    /// if any, is answered after the reconnect.
    #[error("the connection ended before the server acknowledged the message")]
    Unacknowledged,
    /// A logout was confirmed but wiping the stored credentials failed.
    #[error("store failed: {}", error_chain(&**.0))]
    Store(Arc<StoreError>),
}

/// `error` and its sources on one line, joined by `": "`, skipping a source
/// whose text the previous message already contains.
pub(crate) fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}
