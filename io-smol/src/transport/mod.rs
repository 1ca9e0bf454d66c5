//! The WebSocket + TLS transport: [`WebSocketTransportFactory`] opens
//! `wss://web.whatsapp.com/ws/chat` (docs/protocol.md §1.1) and hands the driver a
//! [`Transport`](wa_core::net::Transport) plus its bounded stream of
//! [`TransportEvent`](wa_core::net::TransportEvent)s.
//!
//! Built on async-tungstenite (WebSocket), futures-rustls with the `ring` provider
//! (TLS) and webpki-roots (trusted CAs), on smol. No Tokio anywhere.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use wa_core::net::{TransportEvent, TransportFactory};
//! use wa_io_smol::transport::WebSocketTransportFactory;
//!
//! # fn main() -> anyhow::Result<()> { smol::block_on(async {
//! # use wa_io_smol::transport::async_tungstenite::{self, tungstenite::Message};
//! # use futures_lite::StreamExt;
//! # // A local echo server standing in for WhatsApp.
//! # let listener = smol::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let addr = listener.local_addr()?;
//! # smol::spawn(async move {
//! #     let (tcp, _) = listener.accept().await.unwrap();
//! #     let mut ws = async_tungstenite::accept_async(tcp).await.unwrap();
//! #     while let Some(Ok(msg)) = ws.next().await {
//! #         if msg.is_binary() { ws.send(msg).await.unwrap(); }
//! #     }
//! # }).detach();
//! // `WebSocketTransportFactory::new()` goes to wss://web.whatsapp.com/ws/chat.
//! let factory = WebSocketTransportFactory::new().with_url(format!("ws://{addr}/ws/chat"));
//! let (transport, events) = factory.create_transport().await?;
//! assert_eq!(events.recv().await?, TransportEvent::Connected);
//!
//! transport.send(Bytes::from_static(b"\x57\x41\x06\x03")).await?;
//! while let Ok(event) = events.recv().await {
//!     match event {
//!         TransportEvent::DataReceived(bytes) => {
//!             assert_eq!(&bytes[..], b"WA\x06\x03");
//!             transport.disconnect().await; // a close frame; one Disconnected follows
//!         }
//!         TransportEvent::Disconnected(reason) => println!("disconnected: {reason}"),
//!         TransportEvent::Connected => unreachable!("Connected comes once, first"),
//!     }
//! }
//! # Ok(()) }) }
//! ```
//!
//! # The event stream
//!
//! Every transport reports, in this order:
//! 1. exactly one [`Connected`](wa_core::net::TransportEvent::Connected);
//! 2. any number of [`DataReceived`](wa_core::net::TransportEvent::DataReceived),
//!    one per binary WebSocket message (empty messages are skipped);
//! 3. exactly one [`Disconnected`](wa_core::net::TransportEvent::Disconnected), after
//!    which the channel is closed. Its reason is
//!    - [`ServerClose`](wa_core::net::TransportCloseReason::ServerClose) with the close
//!      code and reason when the server sent a close frame,
//!    - [`StreamEnded`](wa_core::net::TransportCloseReason::StreamEnded) when the connection
//!      reached end-of-file without a close frame (TCP FIN, TLS without close_notify),
//!    - [`ReadError`](wa_core::net::TransportCloseReason::ReadError) for any other read
//!      failure (reset, protocol violation, message over the size limit),
//!    - [`Unknown`](wa_core::net::TransportCloseReason::Unknown) when *we* closed it:
//!      [`Transport::disconnect`](wa_core::net::Transport::disconnect) was called or
//!      the transport was dropped.
//!
//! **Text messages** are not part of the protocol (only binary messages are used,
//! docs/protocol.md §1.1). They are dropped with a `tracing` warning and do not end the
//! connection: a text frame carries nothing the core could use, and closing over it
//! would turn harmless noise into a reconnect.
//!
//! **Pings** are answered by tungstenite: the pong is written and flushed by the
//! reader task on its next read, which follows immediately.
//!
//! # Tasks and memory
//!
//! Each transport runs one reader task on smol's global executor. It owns the read
//! half and feeds the bounded event channel (default capacity 16, see
//! [`WebSocketTransportFactory::with_event_capacity`]); a consumer that does not read
//! stops the reader, which stops reading the socket (backpressure, not buffering).
//! Writes go through an async lock straight to the socket from the caller's task.
//! At most `capacity × max message size` bytes of received data are buffered.
//!
//! The reader task ends by itself: after the peer closes, after a read error, or —
//! when the [`WebSocketTransport`] is dropped — after sending a close frame and
//! waiting at most the close timeout (default 5 s) for the peer's answer; the
//! event stream still ends with `Disconnected` then, even if nobody read it (the
//! oldest unread event makes room). A dropped event receiver is noticed when the
//! next message arrives: the reader closes the connection (code 1000) and ends.
//!
//! # Proxies and custom streams
//!
//! Open the stream yourself (through an HTTP CONNECT or SOCKS5 proxy, a Unix socket,
//! an in-memory pipe ...), do the TLS and WebSocket handshakes with the re-exported
//! [`futures_rustls`] and [`async_tungstenite`], and wrap the result with
//! [`WebSocketTransport::from_websocket`]. `examples/proxy_transport.rs` does this
//! through an HTTP CONNECT proxy inside a [`TransportFactory`](wa_core::net::TransportFactory).

mod factory;
mod tls;
mod websocket;

pub use async_tungstenite;
pub use futures_rustls;
pub use futures_rustls::rustls;

pub use factory::WebSocketTransportFactory;
pub use websocket::WebSocketTransport;

use std::fmt;
use std::time::Duration;

/// Why opening a WebSocket connection failed.
///
/// Each message names the failing step and its cause on one line, e.g.
/// `tls handshake with web.whatsapp.com failed: invalid peer certificate: UnknownIssuer`.
/// [`WebSocketTransportFactory`] returns it inside an [`anyhow::Error`]; get it back
/// with `err.downcast_ref::<ConnectError>()`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL could not be parsed or has no host, or its scheme is not `ws`/`wss`.
    #[error("invalid websocket url {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The `Origin` value is not a valid HTTP header value.
    #[error("invalid origin header value {origin:?}")]
    InvalidOrigin {
        /// The origin as configured.
        origin: String,
    },
    /// The host name could not be resolved.
    #[error("dns lookup for {host} failed: {error}")]
    Dns {
        /// The host that was looked up.
        host: String,
        /// The resolver's error.
        error: std::io::Error,
    },
    /// No resolved address accepted a TCP connection.
    #[error("tcp connect to {host}:{port} failed: {error}")]
    Connect {
        /// The host.
        host: String,
        /// The port.
        port: u16,
        /// The error from the last address tried.
        error: std::io::Error,
    },
    /// The TLS handshake failed (untrusted or invalid certificate, protocol error,
    /// connection closed mid-handshake).
    #[error("tls handshake with {host} failed: {error}")]
    Tls {
        /// The server name that was verified.
        host: String,
        /// The TLS error (a `rustls::Error` inside an `io::Error` for verification failures).
        error: std::io::Error,
    },
    /// The HTTP upgrade to WebSocket failed (for example the server answered 403).
    #[error("websocket handshake failed: {0}")]
    Handshake(Box<async_tungstenite::tungstenite::Error>),
    /// The whole attempt took longer than the connect timeout.
    #[error("connection timed out after {timeout:?} during the {stage}")]
    Timeout {
        /// The configured connect timeout.
        timeout: Duration,
        /// The step that was running when time ran out.
        stage: ConnectStage,
    },
}

/// The steps of opening a connection, in order; named by [`ConnectError::Timeout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectStage {
    /// Resolving the host name.
    Dns,
    /// Opening the TCP connection.
    Tcp,
    /// The TLS handshake.
    Tls,
    /// The HTTP upgrade to WebSocket.
    WebSocket,
}

impl ConnectStage {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Dns,
            1 => Self::Tcp,
            2 => Self::Tls,
            _ => Self::WebSocket,
        }
    }
}

impl fmt::Display for ConnectStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Dns => "dns lookup",
            Self::Tcp => "tcp connect",
            Self::Tls => "tls handshake",
            Self::WebSocket => "websocket handshake",
        })
    }
}

/// Why [`Transport::send`](wa_core::net::Transport::send) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The connection was closed (by either side) or has failed; nothing was sent.
    #[error("transport is closed")]
    Closed,
    /// Writing to the WebSocket failed.
    #[error("websocket write failed: {0}")]
    Write(Box<async_tungstenite::tungstenite::Error>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_errors_read_as_one_line_with_the_cause() {
        let e = ConnectError::Timeout {
            timeout: Duration::from_secs(20),
            stage: ConnectStage::Tls,
        };
        assert_eq!(
            e.to_string(),
            "connection timed out after 20s during the tls handshake"
        );
        let e = ConnectError::Dns {
            host: "web.whatsapp.com".into(),
            error: std::io::Error::other("no such host"),
        };
        assert_eq!(
            e.to_string(),
            "dns lookup for web.whatsapp.com failed: no such host"
        );
        for (i, name) in [
            "dns lookup",
            "tcp connect",
            "tls handshake",
            "websocket handshake",
        ]
        .iter()
        .enumerate()
        {
            assert_eq!(ConnectStage::from_u8(i as u8).to_string(), *name);
        }
    }
}
