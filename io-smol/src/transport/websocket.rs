//! [`WebSocketTransport`]: one open WebSocket, its write path and its reader task.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::{self, Message};
use async_tungstenite::{WebSocketReceiver, WebSocketSender, WebSocketStream};
use bytes::Bytes;
use futures_lite::StreamExt;
use futures_lite::future::or;
use futures_lite::io::{AsyncRead, AsyncWrite};
use smol::lock::Mutex;
use wa_core::net::{Transport, TransportCloseReason, TransportEvent};
use wa_core::runtime::BoxFuture;

use super::SendError;

/// Defaults shared by [`WebSocketTransport::from_websocket`] and the factory.
pub(super) const DEFAULT_EVENT_CAPACITY: usize = 16;
pub(super) const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How a transport's tasks behave; set through the factory.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tuning {
    pub(super) event_capacity: usize,
    pub(super) close_timeout: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            event_capacity: DEFAULT_EVENT_CAPACITY,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
        }
    }
}

/// An open WebSocket connection, as a [`Transport`].
///
/// Made by [`WebSocketTransportFactory`](super::WebSocketTransportFactory), or by
/// [`WebSocketTransport::from_websocket`] around a WebSocket you opened yourself.
/// Every [`send`](Transport::send) writes one binary message and flushes it.
/// [`disconnect`](Transport::disconnect) sends a close frame (code 1000); the event
/// stream then ends with one `Disconnected(Unknown)` once the server answers, or
/// after the close timeout. Dropping the transport does the same in the background.
///
/// See the [module docs](super) for the event order and the disconnect reasons.
pub struct WebSocketTransport {
    shared: Arc<Shared>,
}

impl fmt::Debug for WebSocketTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketTransport")
            .field("closing", &self.shared.closing.load(Ordering::SeqCst))
            .field("ended", &self.shared.ended.is_fired())
            .finish_non_exhaustive()
    }
}

impl WebSocketTransport {
    /// Wraps a WebSocket that the caller opened (after its handshake), for example
    /// through a proxy, and starts its reader task on smol's global executor.
    ///
    /// Returns the transport and its event stream, which starts with
    /// [`TransportEvent::Connected`]: the same shape as
    /// [`TransportFactory::create_transport`](wa_core::net::TransportFactory::create_transport),
    /// so a custom factory can return it as is. The event channel holds 16 events and
    /// the close timeout is 5 s. Message size limits are the ones `ws` was opened with.
    ///
    /// ```
    /// use wa_io_smol::transport::WebSocketTransport;
    /// use wa_io_smol::transport::async_tungstenite::{self, tungstenite};
    /// use wa_core::net::{TransportCloseReason, TransportEvent, WHATSAPP_WEB_ORIGIN};
    /// use tungstenite::client::IntoClientRequest;
    ///
    /// # fn main() -> anyhow::Result<()> { smol::block_on(async {
    /// # // A local server that sends one binary message and closes.
    /// # let listener = smol::net::TcpListener::bind("127.0.0.1:0").await?;
    /// # let addr = listener.local_addr()?;
    /// # smol::spawn(async move {
    /// #     let (tcp, _) = listener.accept().await.unwrap();
    /// #     let mut ws = async_tungstenite::accept_async(tcp).await.unwrap();
    /// #     ws.send(tungstenite::Message::binary(&b"hi"[..])).await.unwrap();
    /// #     ws.close(None).await.unwrap();
    /// #     while futures_lite::StreamExt::next(&mut ws).await.is_some() {}
    /// # }).detach();
    /// // Any stream works: plain TCP here; a TLS stream over a proxy tunnel in
    /// // examples/proxy_transport.rs.
    /// let tcp = smol::net::TcpStream::connect(addr).await?;
    /// let mut request = format!("ws://{addr}/ws/chat").into_client_request()?;
    /// request.headers_mut().insert("Origin", WHATSAPP_WEB_ORIGIN.parse()?);
    /// let (ws, _response) = async_tungstenite::client_async(request, tcp).await?;
    ///
    /// let (transport, events) = WebSocketTransport::from_websocket(ws);
    /// assert_eq!(events.recv().await?, TransportEvent::Connected);
    /// assert_eq!(events.recv().await?, TransportEvent::DataReceived((&b"hi"[..]).into()));
    /// assert!(matches!(
    ///     events.recv().await?,
    ///     TransportEvent::Disconnected(TransportCloseReason::ServerClose { .. })
    /// ));
    /// assert!(events.recv().await.is_err(), "nothing follows Disconnected");
    /// # Ok(()) }) }
    /// ```
    pub fn from_websocket<S>(
        ws: WebSocketStream<S>,
    ) -> (Arc<dyn Transport>, async_channel::Receiver<TransportEvent>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (transport, events) = Self::start(ws, Tuning::default());
        (transport, events)
    }

    pub(super) fn start<S>(
        ws: WebSocketStream<S>,
        tuning: Tuning,
    ) -> (Arc<Self>, async_channel::Receiver<TransportEvent>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (events_tx, events_rx) = async_channel::bounded(tuning.event_capacity.max(1));
        // A fresh channel with room for at least one event: this cannot fail, and it
        // puts `Connected` before anything the reader task sends.
        let _ = events_tx.try_send(TransportEvent::Connected);
        let (outgoing, incoming) = ws.split();
        let shared = Arc::new(Shared {
            writer: Mutex::new(Some(Box::new(outgoing))),
            closing: AtomicBool::new(false),
            shutdown: Signal::new(),
            ended: Signal::new(),
            close_timeout: tuning.close_timeout,
        });
        smol::spawn(run_reader(incoming, events_tx, Arc::clone(&shared))).detach();
        (Arc::new(Self { shared }), events_rx)
    }
}

#[async_trait]
impl Transport for WebSocketTransport {
    async fn send(&self, data: Bytes) -> anyhow::Result<()> {
        let shared = &self.shared;
        if shared.closing.load(Ordering::SeqCst) || shared.ended.is_fired() {
            return Err(SendError::Closed.into());
        }
        let write = async {
            let mut writer = shared.writer.lock().await;
            match writer.as_mut() {
                Some(sink) => sink
                    .send(Message::Binary(data))
                    .await
                    .map_err(|e| SendError::Write(Box::new(e))),
                None => Err(SendError::Closed),
            }
        };
        // A write to a peer that stopped reading can block forever; once the reader
        // has seen the connection end, give up instead.
        let ended = async {
            shared.ended.wait().await;
            Err(SendError::Closed)
        };
        let result = or(write, ended).await;
        if shared.ended.is_fired() {
            shared.release_writer();
        }
        Ok(result?)
    }

    async fn disconnect(&self) {
        let shared = &self.shared;
        if !shared.closing.swap(true, Ordering::SeqCst) {
            shared.send_close_bounded().await;
        }
        shared.shutdown.fire();
    }
}

impl Drop for WebSocketTransport {
    fn drop(&mut self) {
        // The reader task closes the connection (close frame, bounded wait) and ends.
        self.shared.shutdown.fire();
    }
}

/// The write half with its stream type erased, so the transport is not generic.
trait MessageSink: Send {
    fn send(&mut self, message: Message) -> BoxFuture<'_, Result<(), tungstenite::Error>>;
}

impl<S> MessageSink for WebSocketSender<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    fn send(&mut self, message: Message) -> BoxFuture<'_, Result<(), tungstenite::Error>> {
        // Writes the message and flushes it (and any pong tungstenite has queued).
        Box::pin(WebSocketSender::send(self, message))
    }
}

/// State shared by the transport handle and its reader task.
struct Shared {
    /// The write half; `None` once the connection is over and the socket released.
    writer: Mutex<Option<Box<dyn MessageSink>>>,
    /// We started closing (disconnect or drop): later ends are reported as `Unknown`.
    closing: AtomicBool,
    /// Fired by `disconnect` (after the close frame) or by dropping the transport.
    shutdown: Signal,
    /// Fired by the reader task when the connection is over.
    ended: Signal,
    close_timeout: Duration,
}

impl Shared {
    /// Sends a normal close frame, waiting at most the close timeout for the lock
    /// and the write.
    async fn send_close_bounded(&self) {
        let send = async {
            let mut writer = self.writer.lock().await;
            if let Some(sink) = writer.as_mut() {
                let frame = CloseFrame {
                    code: CloseCode::Normal,
                    reason: "".into(),
                };
                if let Err(e) = sink.send(Message::Close(Some(frame))).await {
                    tracing::debug!(error = %e, "sending the websocket close frame failed");
                }
            }
        };
        or(send, sleep(self.close_timeout)).await;
    }

    /// Drops the write half if nobody is using it, closing the socket once the
    /// read half is gone too.
    fn release_writer(&self) {
        if let Some(mut writer) = self.writer.try_lock() {
            writer.take();
        }
    }
}

/// A one-shot broadcast: `fire` once, every `wait` (past and future) completes.
struct Signal {
    tx: async_channel::Sender<()>,
    rx: async_channel::Receiver<()>,
}

impl Signal {
    fn new() -> Self {
        let (tx, rx) = async_channel::bounded(1);
        Self { tx, rx }
    }

    fn fire(&self) {
        self.tx.close();
    }

    fn is_fired(&self) -> bool {
        self.tx.is_closed()
    }

    async fn wait(&self) {
        // Nothing is ever sent: `recv` returns only once the channel is closed.
        let _ = self.rx.recv().await;
    }
}

/// Completes after `duration`; races futures of `()`.
async fn sleep(duration: Duration) {
    smol::Timer::after(duration).await;
}

/// How the read loop stopped.
enum End {
    /// The connection is over for this reason; `drain` when a close frame arrived
    /// and the closing handshake still has to be driven to its end.
    Disconnected {
        reason: TransportCloseReason,
        drain: bool,
    },
    /// The event receiver was dropped: nobody is listening any more. Noticed when
    /// the next message is forwarded; the connection is then closed (code 1000).
    ConsumerGone,
}

/// The reader task: forwards messages until the connection ends, reports exactly
/// one `Disconnected`, finishes the closing handshake and releases the socket.
async fn run_reader<S>(
    mut incoming: WebSocketReceiver<S>,
    events: async_channel::Sender<TransportEvent>,
    shared: Arc<Shared>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let close_timeout = shared.close_timeout;
    let stop = async {
        shared.shutdown.wait().await;
        if !shared.closing.swap(true, Ordering::SeqCst) {
            // Dropped without `disconnect()`: say goodbye on the caller's behalf.
            shared.send_close_bounded().await;
        }
        // Keep reading (the other branch) for the server's close frame, but not forever.
        sleep(close_timeout).await;
        End::Disconnected {
            reason: TransportCloseReason::Unknown,
            drain: false,
        }
    };
    let end = or(read_until_end(&mut incoming, &events, &shared), stop).await;
    // Before `Disconnected` is reported, so a send after it always fails `Closed`.
    shared.ended.fire();

    if let End::Disconnected { reason, drain } = &end {
        let (reason, drain) = (reason.clone(), *drain);
        tracing::debug!(%reason, "websocket transport disconnected");
        // Waits for room if the consumer is slow, but not forever once the
        // transport is gone: then the oldest unread event makes way, so the stream
        // still ends with `Disconnected`.
        let report = async {
            let _ = events
                .send(TransportEvent::Disconnected(reason.clone()))
                .await;
            true
        };
        let abandoned = async {
            shared.shutdown.wait().await;
            sleep(close_timeout).await;
            false
        };
        if !or(report, abandoned).await {
            let _ = events.force_send(TransportEvent::Disconnected(reason));
        }
        // The last event: closing the channel tells the consumer nothing follows.
        drop(events);
        if drain {
            // Reading on lets tungstenite flush its answer to the server's close
            // frame and see the server shut the connection.
            let finish = async { while incoming.next().await.is_some() {} };
            or(finish, sleep(close_timeout)).await;
        }
    }
    if matches!(end, End::ConsumerGone) && !shared.closing.swap(true, Ordering::SeqCst) {
        // Nobody listens any more: close politely rather than just hang up.
        shared.send_close_bounded().await;
    }
    drop(incoming);
    shared.release_writer();
}

async fn read_until_end<S>(
    incoming: &mut WebSocketReceiver<S>,
    events: &async_channel::Sender<TransportEvent>,
    shared: &Shared,
) -> End
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut since_yield = 0u32;
    loop {
        // A peer that sends faster than we forward never makes the read pend; yield
        // now and then so the shutdown branch and other tasks get their turn.
        since_yield += 1;
        if since_yield == 32 {
            since_yield = 0;
            futures_lite::future::yield_now().await;
        }
        let item = incoming.next().await;
        // Once we started closing, however it ends is our doing.
        let ours = shared.closing.load(Ordering::SeqCst);
        let ended = |reason, drain| End::Disconnected {
            reason: if ours {
                TransportCloseReason::Unknown
            } else {
                reason
            },
            drain,
        };
        match item {
            Some(Ok(Message::Binary(data))) => {
                if data.is_empty() {
                    continue;
                }
                if events
                    .send(TransportEvent::DataReceived(data))
                    .await
                    .is_err()
                {
                    return End::ConsumerGone;
                }
            }
            Some(Ok(Message::Text(text))) => {
                tracing::warn!(
                    len = text.len(),
                    "ignoring a text websocket message (the protocol only uses binary messages)"
                );
            }
            // tungstenite queues the pong itself and flushes it on the next read.
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
            Some(Ok(Message::Close(frame))) => {
                let reason = match frame {
                    Some(f) => TransportCloseReason::ServerClose {
                        code: Some(u16::from(f.code)),
                        reason: f.reason.as_str().to_owned(),
                    },
                    None => TransportCloseReason::ServerClose {
                        code: None,
                        reason: String::new(),
                    },
                };
                return ended(reason, true);
            }
            Some(Err(e)) => return ended(classify(e), false),
            None => return ended(TransportCloseReason::StreamEnded, false),
        }
    }
}

/// Maps a read error to a reason: end-of-file without a close frame is a plain
/// `StreamEnded`, everything else a `ReadError`.
fn classify(e: tungstenite::Error) -> TransportCloseReason {
    use tungstenite::error::ProtocolError;
    match e {
        tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            TransportCloseReason::StreamEnded
        }
        // rustls reports a TCP FIN without TLS close_notify this way.
        tungstenite::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            TransportCloseReason::StreamEnded
        }
        other => TransportCloseReason::ReadError(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eof_without_close_is_stream_ended_and_the_rest_read_errors() {
        use tungstenite::error::ProtocolError;
        assert_eq!(
            classify(tungstenite::Error::Protocol(
                ProtocolError::ResetWithoutClosingHandshake
            )),
            TransportCloseReason::StreamEnded
        );
        assert_eq!(
            classify(tungstenite::Error::Io(
                std::io::ErrorKind::UnexpectedEof.into()
            )),
            TransportCloseReason::StreamEnded
        );
        let reset = classify(tungstenite::Error::Io(
            std::io::ErrorKind::ConnectionReset.into(),
        ));
        assert!(
            matches!(&reset, TransportCloseReason::ReadError(m) if !m.is_empty()),
            "{reset:?}"
        );
    }

    #[test]
    fn a_signal_wakes_waiters_before_and_after_it_fires() {
        let s = Arc::new(Signal::new());
        assert!(!s.is_fired());
        let early = {
            let s = Arc::clone(&s);
            smol::spawn(async move { s.wait().await })
        };
        s.fire();
        assert!(s.is_fired());
        smol::block_on(or(
            async {
                early.await;
                s.wait().await;
            },
            async {
                smol::Timer::after(Duration::from_secs(5)).await;
                panic!("a fired signal did not wake its waiters within 5 s");
            },
        ));
    }
}
