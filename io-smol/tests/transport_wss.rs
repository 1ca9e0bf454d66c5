//! The WebSocket transport against real servers on 127.0.0.1 that each test starts
//! itself: `wss://` with a throwaway CA made by rcgen, or plain `ws://`.
//! Every test runs under a 10 s bound and panics if it is exceeded.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_channel::Receiver;
use bytes::Bytes;
use futures_lite::StreamExt;
use futures_lite::future::or;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use smol::net::{TcpListener, TcpStream};
use wa_core::net::{TransportCloseReason, TransportEvent, TransportFactory, WHATSAPP_WEB_ORIGIN};
use wa_io_smol::transport::async_tungstenite::tungstenite::Message;
use wa_io_smol::transport::async_tungstenite::tungstenite::handshake::server::{
    ErrorResponse, Request, Response,
};
use wa_io_smol::transport::async_tungstenite::tungstenite::http::{HeaderMap, StatusCode};
use wa_io_smol::transport::async_tungstenite::tungstenite::protocol::CloseFrame;
use wa_io_smol::transport::async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use wa_io_smol::transport::async_tungstenite::{self, WebSocketStream};
use wa_io_smol::transport::futures_rustls::{TlsAcceptor, server::TlsStream};
use wa_io_smol::transport::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use wa_io_smol::transport::rustls::server::WebPkiClientVerifier;
use wa_io_smol::transport::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use wa_io_smol::transport::{
    ConnectError, ConnectStage, SendError, WebSocketTransport, WebSocketTransportFactory,
};

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/// Runs `f` to completion, failing the test after 10 s.
fn bounded<T>(f: impl Future<Output = T>) -> T {
    smol::block_on(or(f, async {
        smol::Timer::after(Duration::from_secs(10)).await;
        panic!("test did not finish within 10 s");
    }))
}

fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A throwaway CA with a server certificate for 127.0.0.1 and a client certificate.
struct Pki {
    ca: CertificateDer<'static>,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: PrivateKeyDer<'static>,
    client_chain: Vec<CertificateDer<'static>>,
    client_key: PrivateKeyDer<'static>,
}

impl Pki {
    fn new() -> Self {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "wa-io-smol throwaway test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

        let leaf = |names: Vec<String>, usage| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(names).unwrap();
            params.extended_key_usages = vec![usage];
            let cert = params.signed_by(&key, &*ca).unwrap();
            (
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
        };
        let (server_chain, server_key) = leaf(
            vec!["127.0.0.1".into(), "localhost".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_chain, client_key) = leaf(
            vec!["client.test".into()],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        Self {
            ca: ca.der().clone(),
            server_chain,
            server_key,
            client_chain,
            client_key,
        }
    }

    fn ca_roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.clone()).unwrap();
        roots
    }

    /// The server side, optionally requiring a client certificate from this CA.
    fn acceptor(&self, require_client_cert: bool) -> TlsAcceptor {
        let builder = ServerConfig::builder_with_provider(ring())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if require_client_cert {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(self.ca_roots()), ring())
                    .build()
                    .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let config = builder
            .with_single_cert(self.server_chain.clone(), self.server_key.clone_key())
            .unwrap();
        TlsAcceptor::from(Arc::new(config))
    }

    /// A client config trusting the webpki roots plus this CA.
    fn client_config(&self) -> Arc<ClientConfig> {
        let mut roots = WebSocketTransportFactory::default_root_store();
        roots.add(self.ca.clone()).unwrap();
        Arc::new(WebSocketTransportFactory::tls_config_builder(roots).with_no_client_auth())
    }

    /// A factory for `url` that trusts this CA.
    fn factory(&self, url: &str) -> WebSocketTransportFactory {
        WebSocketTransportFactory::new()
            .with_url(url)
            .with_connector(self.client_config())
    }
}

type ServerWs = WebSocketStream<TlsStream<TcpStream>>;

/// What the server saw of the upgrade request.
#[derive(Debug)]
struct Upgrade {
    path: String,
    headers: HeaderMap,
}

async fn listen() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// Accepts one TCP connection, TLS and the WebSocket upgrade.
async fn accept_wss(
    listener: &TcpListener,
    acceptor: &TlsAcceptor,
) -> anyhow::Result<(ServerWs, Upgrade)> {
    let (tcp, _) = listener.accept().await?;
    let tls = acceptor.accept(tcp).await?;
    accept_ws(tls).await
}

#[expect(
    clippy::result_large_err,
    reason = "the callback's Result type is tungstenite's"
)]
async fn accept_ws<S>(stream: S) -> anyhow::Result<(WebSocketStream<S>, Upgrade)>
where
    S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin,
{
    let mut seen = None;
    let ws = async_tungstenite::accept_hdr_async(stream, |req: &Request, resp: Response| {
        seen = Some(Upgrade {
            path: req.uri().path().to_owned(),
            headers: req.headers().clone(),
        });
        Ok(resp)
    })
    .await?;
    Ok((ws, seen.expect("the handshake callback ran")))
}

/// Echoes binary messages until the client closes; returns how many it echoed.
async fn echo<S>(mut ws: WebSocketStream<S>) -> usize
where
    S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin,
{
    let mut echoed = 0;
    while let Some(Ok(msg)) = ws.next().await {
        if let Message::Binary(b) = msg {
            ws.send(Message::Binary(b)).await.unwrap();
            echoed += 1;
        }
    }
    echoed
}

/// Reads every event until the channel closes (so nothing can follow what it returns).
async fn collect(events: &Receiver<TransportEvent>) -> Vec<TransportEvent> {
    let mut all = Vec::new();
    while let Ok(e) = events.recv().await {
        all.push(e);
    }
    all
}

fn data(bytes: &[u8]) -> TransportEvent {
    TransportEvent::DataReceived(Bytes::copy_from_slice(bytes))
}

fn server_close(code: u16, reason: &str) -> TransportEvent {
    TransportEvent::Disconnected(TransportCloseReason::ServerClose {
        code: Some(code),
        reason: reason.into(),
    })
}

fn close_frame(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }))
}

/// A deterministic pseudo-random payload.
fn payload(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

fn connect_error(err: &anyhow::Error) -> &ConnectError {
    err.downcast_ref::<ConnectError>()
        .unwrap_or_else(|| panic!("not a ConnectError: {err:#}"))
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn echoes_binary_messages_including_a_2_mib_one() {
    bounded(async {
        let pki = Pki::new();
        let (listener, port) = listen().await;
        let acceptor = pki.acceptor(false);
        let server = smol::spawn(async move {
            let (ws, _) = accept_wss(&listener, &acceptor).await.unwrap();
            echo(ws).await
        });

        let factory = pki.factory(&format!("wss://127.0.0.1:{port}/ws/chat"));
        let (transport, events) = factory.create_transport().await.unwrap();
        assert_eq!(events.recv().await.unwrap(), TransportEvent::Connected);

        let messages = [payload(3, 1), payload(2 << 20, 2), payload(100_000, 3)];
        let mut expected = Vec::new();
        for m in &messages {
            transport.send(Bytes::from(m.clone())).await.unwrap();
            expected.extend_from_slice(m);
        }
        // Chunk boundaries carry no meaning: compare the byte stream.
        let mut received = Vec::new();
        while received.len() < expected.len() {
            match events.recv().await.unwrap() {
                TransportEvent::DataReceived(b) => received.extend_from_slice(&b),
                other => panic!("unexpected event {other:?}"),
            }
        }
        assert_eq!(received.len(), expected.len());
        assert!(received == expected, "echoed bytes differ");

        transport.disconnect().await;
        assert_eq!(
            collect(&events).await,
            [TransportEvent::Disconnected(TransportCloseReason::Unknown)]
        );
        assert_eq!(server.await, messages.len());
    });
}

#[test]
fn sends_the_default_origin_and_path_and_a_configured_origin() {
    bounded(async {
        let pki = Pki::new();
        let (listener, port) = listen().await;
        let acceptor = pki.acceptor(false);
        let server = smol::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..2 {
                let (ws, upgrade) = accept_wss(&listener, &acceptor).await.unwrap();
                seen.push(upgrade);
                echo(ws).await;
            }
            seen
        });

        let url = format!("wss://127.0.0.1:{port}/ws/chat");
        for factory in [
            pki.factory(&url),
            pki.factory(&url).with_origin("https://origin.example"),
        ] {
            let (transport, events) = factory.create_transport().await.unwrap();
            assert_eq!(events.recv().await.unwrap(), TransportEvent::Connected);
            transport.disconnect().await;
            collect(&events).await;
        }

        let seen = server.await;
        assert_eq!(seen[0].path, "/ws/chat");
        assert_eq!(seen[0].headers.get("origin").unwrap(), WHATSAPP_WEB_ORIGIN);
        assert_eq!(
            seen[1].headers.get("origin").unwrap(),
            "https://origin.example"
        );
        assert_eq!(seen[0].headers.get_all("origin").iter().count(), 1);
    });
}

#[test]
fn refuses_a_server_whose_ca_is_not_trusted() {
    bounded(async {
        let pki = Pki::new();
        let (listener, port) = listen().await;
        let acceptor = pki.acceptor(false);
        let server = smol::spawn(async move { accept_wss(&listener, &acceptor).await.is_ok() });

        // The default connector trusts only the webpki roots.
        let factory =
            WebSocketTransportFactory::new().with_url(format!("wss://127.0.0.1:{port}/ws/chat"));
        let err = factory
            .create_transport()
            .await
            .err()
            .expect("connected to an untrusted server");
        match connect_error(&err) {
            ConnectError::Tls { host, error } => {
                assert_eq!(host, "127.0.0.1");
                let msg = error.to_string();
                assert!(msg.contains("UnknownIssuer"), "{msg}");
            }
            other => panic!("expected a TLS error, got {other}"),
        }
        assert!(!server.await, "the server completed a handshake");
    });
}

#[test]
fn accepts_the_ca_through_with_connector_and_presents_a_client_certificate() {
    bounded(async {
        let pki = Pki::new();
        let (listener, port) = listen().await;
        let acceptor = pki.acceptor(true);
        let client_chain = pki.client_chain.clone();
        let server = smol::spawn(async move {
            // First attempt: no client certificate, refused by the server.
            let (tcp, _) = listener.accept().await.unwrap();
            let first = match acceptor.accept(tcp).await {
                Ok(tls) => accept_ws(tls).await.is_ok(),
                Err(_) => false,
            };
            // Second attempt: with the certificate.
            let (tcp, _) = listener.accept().await.unwrap();
            let tls = acceptor.accept(tcp).await.unwrap();
            let peer = tls.get_ref().1.peer_certificates().map(|c| c.to_vec());
            let (ws, _) = accept_ws(tls).await.unwrap();
            (first, peer, echo(ws).await)
        });

        let url = format!("wss://127.0.0.1:{port}/ws/chat");
        let err = pki
            .factory(&url)
            .create_transport()
            .await
            .err()
            .expect("connected without a client certificate");
        // TLS 1.3 lets the client finish before the server refuses, so the refusal
        // may surface during the upgrade instead.
        assert!(
            matches!(
                connect_error(&err),
                ConnectError::Tls { .. } | ConnectError::Handshake(_)
            ),
            "{err:#}"
        );

        let config = WebSocketTransportFactory::tls_config_builder(pki.ca_roots())
            .with_client_auth_cert(pki.client_chain.clone(), pki.client_key.clone_key())
            .unwrap();
        let factory = WebSocketTransportFactory::new()
            .with_url(&url)
            .with_connector(Arc::new(config));
        let (transport, events) = factory.create_transport().await.unwrap();
        assert_eq!(events.recv().await.unwrap(), TransportEvent::Connected);
        transport.send(Bytes::from_static(b"mtls")).await.unwrap();
        assert_eq!(events.recv().await.unwrap(), data(b"mtls"));
        transport.disconnect().await;
        collect(&events).await;

        let (first, peer, echoed) = server.await;
        assert!(!first, "the server accepted a client without a certificate");
        assert_eq!(peer, Some(client_chain));
        assert_eq!(echoed, 1);
    });
}

#[test]
fn a_server_close_gives_one_disconnected_with_its_code_and_reason() {
    bounded(async {
        let pki = Pki::new();
        let (listener, port) = listen().await;
        let acceptor = pki.acceptor(false);
        let server = smol::spawn(async move {
            let (mut ws, _) = accept_wss(&listener, &acceptor).await.unwrap();
            ws.send(Message::binary(&b"hello"[..])).await.unwrap();
            ws.send(close_frame(4000, "bye")).await.unwrap();
            // The client must answer the close frame.
            let mut answered = false;
            while let Some(Ok(msg)) = ws.next().await {
                answered |= matches!(msg, Message::Close(_));
            }
            answered
        });

        let (transport, events) = pki
            .factory(&format!("wss://127.0.0.1:{port}/ws/chat"))
            .create_transport()
            .await
            .unwrap();
        assert_eq!(
            collect(&events).await,
            [
                TransportEvent::Connected,
                data(b"hello"),
                server_close(4000, "bye")
            ]
        );
        assert!(server.await, "the client did not answer the close frame");
        let err = transport
            .send(Bytes::from_static(b"late"))
            .await
            .unwrap_err();
        assert!(
            matches!(err.downcast_ref::<SendError>(), Some(SendError::Closed)),
            "{err:#}"
        );
    });
}

#[test]
fn an_abrupt_eof_gives_one_stream_ended() {
    bounded(async {
        let pki = Pki::new();
        let (listener, port) = listen().await;
        let acceptor = pki.acceptor(false);
        let server = smol::spawn(async move {
            let (mut ws, _) = accept_wss(&listener, &acceptor).await.unwrap();
            ws.send(Message::binary(&b"x"[..])).await.unwrap();
            // Drop TLS and TCP without a close frame or close_notify.
            drop(ws);
        });

        let (_transport, events) = pki
            .factory(&format!("wss://127.0.0.1:{port}/ws/chat"))
            .create_transport()
            .await
            .unwrap();
        server.await;
        assert_eq!(
            collect(&events).await,
            [
                TransportEvent::Connected,
                data(b"x"),
                TransportEvent::Disconnected(TransportCloseReason::StreamEnded)
            ]
        );
    });
}

#[test]
fn times_out_when_the_tls_handshake_never_answers() {
    bounded(async {
        let (listener, port) = listen().await;
        // Accepts TCP, then says nothing until the test ends.
        let server = smol::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            smol::Timer::after(Duration::from_secs(30)).await;
            drop(tcp);
        });
        let factory = WebSocketTransportFactory::new()
            .with_url(format!("wss://127.0.0.1:{port}/ws/chat"))
            .with_connect_timeout(Duration::from_millis(300));
        let err = factory
            .create_transport()
            .await
            .err()
            .expect("connected to a mute server");
        match connect_error(&err) {
            ConnectError::Timeout { timeout, stage } => {
                assert_eq!(*timeout, Duration::from_millis(300));
                assert_eq!(*stage, ConnectStage::Tls);
            }
            other => panic!("expected a timeout, got {other}"),
        }
        drop(server); // cancels the mute server
    });
}

#[test]
fn disconnect_sends_a_close_frame_and_ends_with_one_disconnected() {
    bounded(async {
        let pki = Pki::new();
        let (listener, port) = listen().await;
        let acceptor = pki.acceptor(false);
        let server = smol::spawn(async move {
            let (mut ws, _) = accept_wss(&listener, &acceptor).await.unwrap();
            let mut got = Vec::new();
            while let Some(Ok(msg)) = ws.next().await {
                got.push(msg);
            }
            got
        });

        let (transport, events) = pki
            .factory(&format!("wss://127.0.0.1:{port}/ws/chat"))
            .create_transport()
            .await
            .unwrap();
        transport.send(Bytes::from_static(b"a")).await.unwrap();
        transport.disconnect().await;
        transport.disconnect().await; // a second call is harmless
        assert_eq!(
            collect(&events).await,
            [
                TransportEvent::Connected,
                TransportEvent::Disconnected(TransportCloseReason::Unknown)
            ]
        );
        let err = transport.send(Bytes::from_static(b"b")).await.unwrap_err();
        assert!(
            matches!(err.downcast_ref::<SendError>(), Some(SendError::Closed)),
            "{err:#}"
        );
        assert_eq!(
            server.await,
            [Message::binary(&b"a"[..]), close_frame(1000, "")]
        );
    });
}

#[test]
fn dropping_the_transport_closes_the_connection_and_ends_the_events() {
    bounded(async {
        let pki = Pki::new();
        let (listener, port) = listen().await;
        let acceptor = pki.acceptor(false);
        let server = smol::spawn(async move {
            let (mut ws, _) = accept_wss(&listener, &acceptor).await.unwrap();
            let mut got = Vec::new();
            while let Some(Ok(msg)) = ws.next().await {
                got.push(msg);
            }
            got
        });

        let (transport, events) = pki
            .factory(&format!("wss://127.0.0.1:{port}/ws/chat"))
            .create_transport()
            .await
            .unwrap();
        assert_eq!(events.recv().await.unwrap(), TransportEvent::Connected);
        drop(transport);
        // The reader task sends the close frame, reports, and closes the channel.
        assert_eq!(
            collect(&events).await,
            [TransportEvent::Disconnected(TransportCloseReason::Unknown)]
        );
        assert_eq!(server.await, [close_frame(1000, "")]);
    });
}

#[test]
fn a_dropped_transport_ends_its_reader_even_if_nobody_reads_the_events() {
    bounded(async {
        let pki = Pki::new();
        let (listener, port) = listen().await;
        let acceptor = pki.acceptor(false);
        let server = smol::spawn(async move {
            let (mut ws, _) = accept_wss(&listener, &acceptor).await.unwrap();
            for i in 0..20u8 {
                ws.send(Message::binary(vec![i; 10])).await.unwrap();
            }
            while ws.next().await.is_some() {}
        });

        let (transport, events) = pki
            .factory(&format!("wss://127.0.0.1:{port}/ws/chat"))
            .with_event_capacity(2)
            .with_close_timeout(Duration::from_millis(200))
            .create_transport()
            .await
            .unwrap();
        assert_eq!(events.recv().await.unwrap(), TransportEvent::Connected);
        // Wait until the reader is stuck on the full channel, then drop the transport.
        while events.len() < 2 {
            smol::Timer::after(Duration::from_millis(5)).await;
        }
        drop(transport);
        // Without reading anything, the reader task lets go of the channel.
        while events.sender_count() > 0 {
            smol::Timer::after(Duration::from_millis(5)).await;
        }
        let rest = collect(&events).await;
        assert!(rest.len() <= 2, "{rest:?}");
        assert_eq!(
            rest.last(),
            Some(&TransportEvent::Disconnected(TransportCloseReason::Unknown))
        );
        assert!(
            rest[..rest.len() - 1]
                .iter()
                .all(|e| matches!(e, TransportEvent::DataReceived(_))),
            "{rest:?}"
        );
        server.await;
    });
}

#[test]
fn dropping_the_events_receiver_closes_the_connection() {
    bounded(async {
        let pki = Pki::new();
        let (listener, port) = listen().await;
        let acceptor = pki.acceptor(false);
        let (go_tx, go_rx) = async_channel::bounded::<()>(1);
        let server = smol::spawn(async move {
            let (mut ws, _) = accept_wss(&listener, &acceptor).await.unwrap();
            // Sent once the receiver is gone: the reader notices when it forwards it.
            go_rx.recv().await.unwrap();
            ws.send(Message::binary(&b"anyone?"[..])).await.unwrap();
            let mut got = Vec::new();
            while let Some(Ok(msg)) = ws.next().await {
                got.push(msg);
            }
            got
        });

        let (transport, events) = pki
            .factory(&format!("wss://127.0.0.1:{port}/ws/chat"))
            .create_transport()
            .await
            .unwrap();
        drop(events);
        go_tx.send(()).await.unwrap();
        assert_eq!(server.await, [close_frame(1000, "")]);
        let err = transport.send(Bytes::from_static(b"x")).await.unwrap_err();
        assert!(
            matches!(err.downcast_ref::<SendError>(), Some(SendError::Closed)),
            "{err:#}"
        );
    });
}

#[test]
fn text_messages_are_ignored_and_pings_are_answered() {
    bounded(async {
        let pki = Pki::new();
        let (listener, port) = listen().await;
        let acceptor = pki.acceptor(false);
        let server = smol::spawn(async move {
            let (mut ws, _) = accept_wss(&listener, &acceptor).await.unwrap();
            ws.send(Message::text("not for us")).await.unwrap();
            ws.send(Message::Ping(Bytes::from_static(b"are you there")))
                .await
                .unwrap();
            // The client sends nothing on its own: the next message must be the pong.
            let pong = ws.next().await;
            ws.send(Message::binary(&b"\x01\x02\x03"[..]))
                .await
                .unwrap();
            ws.send(close_frame(1000, "")).await.unwrap();
            while ws.next().await.is_some() {}
            pong.map(|m| m.unwrap())
        });

        let (_transport, events) = pki
            .factory(&format!("wss://127.0.0.1:{port}/ws/chat"))
            .create_transport()
            .await
            .unwrap();
        assert_eq!(
            collect(&events).await,
            [
                TransportEvent::Connected,
                data(b"\x01\x02\x03"),
                server_close(1000, "")
            ]
        );
        assert_eq!(
            server.await,
            Some(Message::Pong(Bytes::from_static(b"are you there")))
        );
    });
}

#[test]
fn a_slow_consumer_gets_every_message_in_order() {
    bounded(async {
        const COUNT: u32 = 300;
        let pki = Pki::new();
        let (listener, port) = listen().await;
        let acceptor = pki.acceptor(false);
        let server = smol::spawn(async move {
            let (mut ws, _) = accept_wss(&listener, &acceptor).await.unwrap();
            for i in 0..COUNT {
                let mut m = i.to_be_bytes().to_vec();
                m.extend_from_slice(&payload(1024, i));
                ws.send(Message::binary(m)).await.unwrap();
            }
            ws.send(close_frame(1000, "done")).await.unwrap();
            while ws.next().await.is_some() {}
        });

        let (_transport, events) = pki
            .factory(&format!("wss://127.0.0.1:{port}/ws/chat"))
            .with_event_capacity(1)
            .create_transport()
            .await
            .unwrap();
        assert_eq!(events.recv().await.unwrap(), TransportEvent::Connected);
        let mut stream = Vec::new();
        loop {
            // Let the reader run into the full channel between receives.
            for _ in 0..3 {
                futures_lite::future::yield_now().await;
            }
            match events.recv().await.unwrap() {
                TransportEvent::DataReceived(b) => stream.extend_from_slice(&b),
                TransportEvent::Disconnected(reason) => {
                    assert_eq!(
                        reason,
                        TransportCloseReason::ServerClose {
                            code: Some(1000),
                            reason: "done".into()
                        }
                    );
                    break;
                }
                TransportEvent::Connected => panic!("a second Connected"),
            }
        }
        assert!(events.recv().await.is_err(), "an event after Disconnected");
        let mut expected = Vec::new();
        for i in 0..COUNT {
            expected.extend_from_slice(&i.to_be_bytes());
            expected.extend_from_slice(&payload(1024, i));
        }
        assert!(stream == expected, "messages lost, duplicated or reordered");
        server.await;
    });
}

#[test]
fn a_message_over_the_size_limit_is_a_read_error() {
    bounded(async {
        let pki = Pki::new();
        let (listener, port) = listen().await;
        let acceptor = pki.acceptor(false);
        let server = smol::spawn(async move {
            let (mut ws, _) = accept_wss(&listener, &acceptor).await.unwrap();
            ws.send(Message::binary(vec![7u8; 100])).await.unwrap();
            ws.send(Message::binary(vec![7u8; 4096])).await.unwrap();
            while ws.next().await.is_some() {}
        });
        let (_transport, events) = pki
            .factory(&format!("wss://127.0.0.1:{port}/ws/chat"))
            .with_max_message_size(1024)
            .create_transport()
            .await
            .unwrap();
        let all = collect(&events).await;
        assert_eq!(all.len(), 3, "{all:?}");
        assert_eq!(all[..2], [TransportEvent::Connected, data(&[7u8; 100])]);
        assert!(
            matches!(&all[2], TransportEvent::Disconnected(TransportCloseReason::ReadError(m)) if m.contains("too long")),
            "{:?}",
            all[2]
        );
        server.await;
    });
}

#[test]
fn from_websocket_wraps_a_plain_ws_stream_opened_by_the_caller() {
    bounded(async {
        let (listener, port) = listen().await;
        let server = smol::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let (mut ws, upgrade) = accept_ws(tcp).await.unwrap();
            // Echo one message, then hang up without a close frame.
            if let Some(Ok(Message::Binary(b))) = ws.next().await {
                ws.send(Message::Binary(b)).await.unwrap();
            }
            drop(ws);
            upgrade
        });

        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let (ws, _) = async_tungstenite::client_async(format!("ws://127.0.0.1:{port}/custom"), tcp)
            .await
            .unwrap();
        let (transport, events) = WebSocketTransport::from_websocket(ws);
        assert_eq!(events.recv().await.unwrap(), TransportEvent::Connected);
        transport
            .send(Bytes::from_static(b"ping me"))
            .await
            .unwrap();
        assert_eq!(
            collect(&events).await,
            [
                data(b"ping me"),
                TransportEvent::Disconnected(TransportCloseReason::StreamEnded)
            ]
        );
        assert_eq!(server.await.path, "/custom");
    });
}

#[test]
#[expect(
    clippy::result_large_err,
    reason = "the callback's Result type is tungstenite's"
)]
fn connection_errors_name_their_step() {
    bounded(async {
        // Nothing listens on a port we just released.
        let (listener, port) = listen().await;
        drop(listener);
        let err = WebSocketTransportFactory::new()
            .with_url(format!("ws://127.0.0.1:{port}/"))
            .create_transport()
            .await
            .err()
            .expect("connected to a closed port");
        assert!(
            matches!(connect_error(&err), ConnectError::Connect { port: p, .. } if *p == port),
            "{err:#}"
        );

        // A server that refuses the upgrade.
        let (listener, port) = listen().await;
        let server = smol::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let refused = async_tungstenite::accept_hdr_async(tcp, |_: &Request, _: Response| {
                let mut resp = ErrorResponse::new(None);
                *resp.status_mut() = StatusCode::FORBIDDEN;
                Err(resp)
            })
            .await;
            assert!(refused.is_err());
        });
        let err = WebSocketTransportFactory::new()
            .with_url(format!("ws://127.0.0.1:{port}/"))
            .create_transport()
            .await
            .err()
            .expect("upgraded despite a 403");
        assert!(
            matches!(connect_error(&err), ConnectError::Handshake(_)),
            "{err:#}"
        );
        assert!(err.to_string().contains("403"), "{err}");
        server.await;

        let err = WebSocketTransportFactory::new()
            .with_url("https://web.whatsapp.com/ws/chat")
            .create_transport()
            .await
            .err()
            .expect("accepted an https url");
        assert!(
            matches!(connect_error(&err), ConnectError::InvalidUrl { .. }),
            "{err:#}"
        );
    });
}

#[cfg(feature = "danger-skip-tls-verify")]
#[test]
fn danger_accept_invalid_certs_connects_to_an_untrusted_server() {
    bounded(async {
        let pki = Pki::new();
        let (listener, port) = listen().await;
        let acceptor = pki.acceptor(false);
        let server = smol::spawn(async move {
            let (ws, _) = accept_wss(&listener, &acceptor).await.unwrap();
            echo(ws).await
        });
        let factory = WebSocketTransportFactory::new()
            .with_url(format!("wss://127.0.0.1:{port}/ws/chat"))
            .danger_accept_invalid_certs();
        let (transport, events) = factory.create_transport().await.unwrap();
        assert_eq!(events.recv().await.unwrap(), TransportEvent::Connected);
        transport
            .send(Bytes::from_static(b"insecure"))
            .await
            .unwrap();
        assert_eq!(events.recv().await.unwrap(), data(b"insecure"));
        transport.disconnect().await;
        collect(&events).await;
        assert_eq!(server.await, 1);
    });
}
