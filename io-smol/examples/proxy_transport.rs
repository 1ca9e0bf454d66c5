//! Connecting to WhatsApp Web through an HTTP `CONNECT` proxy.
//!
//! `WebSocketTransportFactory` dials the server directly. To go through a proxy,
//! open the stream yourself — here a TCP connection to the proxy, turned into a
//! tunnel with `CONNECT host:443` — then do the TLS and WebSocket handshakes over
//! it and hand the WebSocket to `WebSocketTransport::from_websocket`. Wrapping
//! that in a `TransportFactory` lets a client reconnect through the proxy too.
//! A SOCKS5 proxy works the same way; only the tunnel request differs.
//!
//! ```text
//! cargo run -p wa-io-smol --example proxy_transport -- PROXY_HOST:PORT [wss://URL] [--ca CA.pem]
//! ```
//!
//! It connects, prints the events for a few seconds and disconnects. `--ca` adds a
//! PEM CA certificate to the trusted roots (for a test server behind the proxy).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use async_trait::async_trait;
use futures_lite::future::or;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpStream;
use wa_core::net::{
    Transport, TransportEvent, TransportFactory, WHATSAPP_WEB_ORIGIN, WHATSAPP_WEB_WS_URL,
};
use wa_io_smol::transport::async_tungstenite::{self, tungstenite::client::IntoClientRequest};
use wa_io_smol::transport::futures_rustls::TlsConnector;
use wa_io_smol::transport::rustls::pki_types::pem::PemObject;
use wa_io_smol::transport::rustls::pki_types::{CertificateDer, ServerName};
use wa_io_smol::transport::{WebSocketTransport, WebSocketTransportFactory};

/// Opens WebSocket transports through an HTTP `CONNECT` proxy.
struct HttpConnectProxyFactory {
    /// `host:port` of the proxy.
    proxy: String,
    /// The `wss://` URL to reach through it.
    url: String,
    /// TLS to the real server (end to end: the proxy only sees ciphertext).
    tls: TlsConnector,
    connect_timeout: Duration,
}

#[async_trait]
impl TransportFactory for HttpConnectProxyFactory {
    async fn create_transport(
        &self,
    ) -> anyhow::Result<(Arc<dyn Transport>, async_channel::Receiver<TransportEvent>)> {
        let timeout = self.connect_timeout;
        or(self.connect(), async {
            smol::Timer::after(timeout).await;
            bail!("connecting through the proxy timed out after {timeout:?}")
        })
        .await
    }
}

impl HttpConnectProxyFactory {
    async fn connect(
        &self,
    ) -> anyhow::Result<(Arc<dyn Transport>, async_channel::Receiver<TransportEvent>)> {
        let mut request = self.url.as_str().into_client_request()?;
        request
            .headers_mut()
            .insert("Origin", WHATSAPP_WEB_ORIGIN.parse()?);
        let host = request
            .uri()
            .host()
            .context("the url has no host")?
            .to_owned();
        let port = request.uri().port_u16().unwrap_or(443);

        // 1. A tunnel through the proxy.
        let mut tcp = TcpStream::connect(self.proxy.as_str())
            .await
            .with_context(|| format!("connecting to the proxy {}", self.proxy))?;
        let ask = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n");
        tcp.write_all(ask.as_bytes()).await?;
        read_connect_answer(&mut tcp).await?;

        // 2. TLS with the real server, inside the tunnel.
        let name = ServerName::try_from(host.clone())?;
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .with_context(|| format!("tls handshake with {host}"))?;

        // 3. The WebSocket upgrade, then the transport.
        let (ws, _response) = async_tungstenite::client_async(request, tls)
            .await
            .context("websocket handshake")?;
        Ok(WebSocketTransport::from_websocket(ws))
    }
}

/// Reads the proxy's answer head (up to 8 KiB) byte by byte, so nothing of the
/// tunnelled stream is consumed, and checks it is `200`.
async fn read_connect_answer(tcp: &mut TcpStream) -> anyhow::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= 8192 {
            bail!("the proxy's answer is too long");
        }
        if tcp.read(&mut byte).await? == 0 {
            bail!("the proxy closed the connection");
        }
        head.push(byte[0]);
    }
    let status_line = String::from_utf8_lossy(&head);
    let status_line = status_line.lines().next().unwrap_or_default();
    match status_line.split_whitespace().nth(1) {
        Some("200") => Ok(()),
        _ => bail!("the proxy refused the tunnel: {status_line}"),
    }
}

fn main() -> anyhow::Result<()> {
    let mut positional = Vec::new();
    let mut extra_ca = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--ca" {
            extra_ca = Some(args.next().context("--ca needs a file")?);
        } else {
            positional.push(arg);
        }
    }
    let mut positional = positional.into_iter();
    let Some(proxy) = positional.next() else {
        eprintln!("usage: proxy_transport PROXY_HOST:PORT [wss://URL] [--ca CA.pem]");
        std::process::exit(2);
    };
    let url = positional
        .next()
        .unwrap_or_else(|| WHATSAPP_WEB_WS_URL.to_owned());

    // Start from the defaults (webpki roots, ring); an extra CA or a client
    // certificate goes into the rustls config here.
    let tls = match extra_ca {
        None => WebSocketTransportFactory::default_tls_connector(),
        Some(path) => {
            let mut roots = WebSocketTransportFactory::default_root_store();
            let ca = CertificateDer::from_pem_file(&path)
                .with_context(|| format!("reading the CA certificate {path}"))?;
            roots.add(ca)?;
            let config = WebSocketTransportFactory::tls_config_builder(roots).with_no_client_auth();
            TlsConnector::from(Arc::new(config))
        }
    };
    let factory = HttpConnectProxyFactory {
        proxy,
        url,
        tls,
        connect_timeout: Duration::from_secs(20),
    };

    smol::block_on(async {
        let (transport, events) = factory.create_transport().await?;
        let watch = async {
            while let Ok(event) = events.recv().await {
                match &event {
                    TransportEvent::DataReceived(b) => println!("received {} bytes", b.len()),
                    other => println!("{other:?}"),
                }
            }
        };
        let wait = async {
            smol::Timer::after(Duration::from_secs(3)).await;
        };
        or(watch, wait).await;
        transport.disconnect().await;
        // The stream ends with exactly one Disconnected.
        while let Ok(event) = events.recv().await {
            println!("{event:?}");
        }
        Ok(())
    })
}
