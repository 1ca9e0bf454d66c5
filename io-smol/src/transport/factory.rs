//! [`WebSocketTransportFactory`]: DNS, TCP, TLS and the WebSocket upgrade, under
//! one connect timeout.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::handshake::client::Request;
use async_tungstenite::tungstenite::http::HeaderValue;
use async_tungstenite::tungstenite::http::header::ORIGIN;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use futures_lite::future::or;
use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_rustls::TlsConnector;
use rustls::client::WantsClientCert;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ConfigBuilder, RootCertStore};
use smol::net::TcpStream;
use wa_core::net::{
    Transport, TransportEvent, TransportFactory, WHATSAPP_WEB_ORIGIN, WHATSAPP_WEB_WS_URL,
};

use super::websocket::{DEFAULT_CLOSE_TIMEOUT, DEFAULT_EVENT_CAPACITY, Tuning};
use super::{ConnectError, ConnectStage, WebSocketTransport, tls};

/// The default connect timeout, as the reference clients use (docs/protocol.md §1.1).
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// The default limit on one incoming WebSocket message and on one WebSocket frame.
/// A noise frame is at most 16 MiB plus its 3-byte length (docs/protocol.md §1.1: one
/// message may hold several frames or part of one); twice that leaves room without
/// letting a peer make us buffer without bound.
const DEFAULT_MAX_MESSAGE_SIZE: usize = 32 << 20;

/// Opens [`WebSocketTransport`]s to WhatsApp Web, or to any `ws://` / `wss://` URL.
///
/// Defaults: [`WHATSAPP_WEB_WS_URL`] with `Origin: `[`WHATSAPP_WEB_ORIGIN`], server
/// certificates verified against the webpki (Mozilla) roots with rustls on ring, a
/// 20 s connect timeout covering DNS, TCP, TLS and the upgrade, a 16-event channel,
/// 32 MiB message limit and a 5 s close timeout.
///
/// ```
/// use std::time::Duration;
/// use wa_io_smol::transport::WebSocketTransportFactory;
///
/// let factory = WebSocketTransportFactory::new()
///     .with_connect_timeout(Duration::from_secs(10));
/// assert_eq!(factory.url(), "wss://web.whatsapp.com/ws/chat");
/// assert_eq!(factory.origin(), "https://web.whatsapp.com");
/// # let _: &dyn wa_core::net::TransportFactory = &factory;
/// ```
///
/// Trusting an extra CA (a corporate TLS proxy, a test server) and presenting a
/// client certificate:
///
/// ```
/// # use wa_io_smol::transport::rustls::pki_types::{CertificateDer, PrivateKeyDer};
/// # fn main() -> anyhow::Result<()> {
/// # // Throwaway certificates standing in for yours.
/// # let ca_key = rcgen::KeyPair::generate()?;
/// # let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
/// # ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
/// # let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key)?;
/// # let extra_ca: CertificateDer<'static> = ca.der().clone();
/// # let client_key = rcgen::KeyPair::generate()?;
/// # let client_cert = rcgen::CertificateParams::new(vec!["me.test".to_owned()])?
/// #     .signed_by(&client_key, &*ca)?;
/// # let chain = vec![client_cert.der().clone()];
/// # let key = PrivateKeyDer::Pkcs8(client_key.serialize_der().into());
/// use std::sync::Arc;
/// use wa_io_smol::transport::WebSocketTransportFactory;
///
/// let mut roots = WebSocketTransportFactory::default_root_store();
/// roots.add(extra_ca)?;
/// let config = WebSocketTransportFactory::tls_config_builder(roots)
///     .with_client_auth_cert(chain, key)?; // or .with_no_client_auth()
/// let factory = WebSocketTransportFactory::new()
///     .with_url("wss://chat.example.test/ws/chat")
///     .with_connector(Arc::new(config));
/// # assert_eq!(factory.url(), "wss://chat.example.test/ws/chat");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct WebSocketTransportFactory {
    url: String,
    origin: String,
    connector: TlsConnector,
    connect_timeout: Duration,
    max_message_size: usize,
    tuning: Tuning,
    #[cfg(feature = "danger-skip-tls-verify")]
    insecure: bool,
}

impl Default for WebSocketTransportFactory {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for WebSocketTransportFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("WebSocketTransportFactory");
        d.field("url", &self.url)
            .field("origin", &self.origin)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_message_size", &self.max_message_size)
            .field("event_capacity", &self.tuning.event_capacity)
            .field("close_timeout", &self.tuning.close_timeout);
        #[cfg(feature = "danger-skip-tls-verify")]
        d.field("accept_invalid_certs", &self.insecure);
        d.finish_non_exhaustive()
    }
}

impl WebSocketTransportFactory {
    /// The defaults: WhatsApp Web's URL and Origin, webpki roots, 20 s connect timeout.
    pub fn new() -> Self {
        Self {
            url: WHATSAPP_WEB_WS_URL.to_owned(),
            origin: WHATSAPP_WEB_ORIGIN.to_owned(),
            connector: tls::default_connector(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            tuning: Tuning {
                event_capacity: DEFAULT_EVENT_CAPACITY,
                close_timeout: DEFAULT_CLOSE_TIMEOUT,
            },
            #[cfg(feature = "danger-skip-tls-verify")]
            insecure: false,
        }
    }

    /// Connects to `url` instead (`ws://` or `wss://`, with an optional port and path).
    /// The URL is checked when connecting; a bad one fails with
    /// [`ConnectError::InvalidUrl`].
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// Sends this `Origin` header on the upgrade instead; an empty string sends none.
    pub fn with_origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = origin.into();
        self
    }

    /// Uses this TLS configuration for `wss://` URLs: pass an `Arc<rustls::ClientConfig>`
    /// (see [`tls_config_builder`](Self::tls_config_builder) to add CAs or a client
    /// certificate) or a [`futures_rustls::TlsConnector`].
    pub fn with_connector(mut self, connector: impl Into<TlsConnector>) -> Self {
        self.connector = connector.into();
        #[cfg(feature = "danger-skip-tls-verify")]
        {
            self.insecure = false;
        }
        self
    }

    /// Gives up on a connection attempt (DNS, TCP, TLS and upgrade together) after
    /// `timeout`, with [`ConnectError::Timeout`]. Default 20 s.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How many events the channel holds before the reader stops reading the socket
    /// (at least 1; default 16).
    pub fn with_event_capacity(mut self, capacity: usize) -> Self {
        self.tuning.event_capacity = capacity.max(1);
        self
    }

    /// How long `disconnect()` or a drop waits for the close frame to be written and
    /// for the server's answer before giving up (default 5 s).
    pub fn with_close_timeout(mut self, timeout: Duration) -> Self {
        self.tuning.close_timeout = timeout;
        self
    }

    /// The largest incoming WebSocket message (and frame) accepted; a bigger one ends
    /// the connection with a `ReadError`. Default 32 MiB.
    pub fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// **DANGER: turns off TLS certificate verification.** Any server that answers
    /// for the host — including anyone who can intercept the connection — is
    /// accepted, so everything sent (credentials, keys, messages) can be read and
    /// changed by an attacker. Only for development against a local server with a
    /// self-signed certificate; prefer trusting that certificate's CA through
    /// [`with_connector`](Self::with_connector). Exists only with the
    /// `danger-skip-tls-verify` cargo feature, which is off by default and must never
    /// be enabled in a release build. Every connection logs a warning.
    #[cfg(feature = "danger-skip-tls-verify")]
    pub fn danger_accept_invalid_certs(mut self) -> Self {
        self.connector = tls::insecure_connector();
        self.insecure = true;
        self
    }

    /// The URL connections go to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The `Origin` header value sent (empty: none).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Mozilla's trusted root CAs (from webpki-roots), the default trust anchors.
    /// Add your own with [`RootCertStore::add`] and build a config with
    /// [`tls_config_builder`](Self::tls_config_builder).
    pub fn default_root_store() -> RootCertStore {
        tls::default_root_store()
    }

    /// A rustls config builder on the ring provider (TLS 1.2 and 1.3) trusting
    /// `roots`; finish it with `.with_no_client_auth()` or
    /// `.with_client_auth_cert(chain, key)`.
    pub fn tls_config_builder(
        roots: RootCertStore,
    ) -> ConfigBuilder<ClientConfig, WantsClientCert> {
        tls::config_builder(roots)
    }

    /// The default TLS configuration: webpki roots, no client certificate, ring.
    /// Its public fields (ALPN, session resumption, key log ...) can be changed
    /// before passing it to [`with_connector`](Self::with_connector).
    pub fn default_tls_config() -> ClientConfig {
        tls::default_config()
    }

    /// The default TLS connector ([`default_tls_config`](Self::default_tls_config)),
    /// for opening TLS yourself, e.g. over a proxy tunnel before
    /// [`WebSocketTransport::from_websocket`].
    pub fn default_tls_connector() -> TlsConnector {
        tls::default_connector()
    }

    /// Opens one connection; what [`TransportFactory::create_transport`] does, with
    /// the typed error.
    pub async fn connect(
        &self,
    ) -> Result<
        (
            Arc<WebSocketTransport>,
            async_channel::Receiver<TransportEvent>,
        ),
        ConnectError,
    > {
        let stage = AtomicU8::new(ConnectStage::Dns as u8);
        let attempt = self.connect_unbounded(&stage);
        let timeout = self.connect_timeout;
        let expire = async {
            smol::Timer::after(timeout).await;
            Err(ConnectError::Timeout {
                timeout,
                stage: ConnectStage::from_u8(stage.load(Ordering::SeqCst)),
            })
        };
        or(attempt, expire).await
    }

    async fn connect_unbounded(
        &self,
        stage: &AtomicU8,
    ) -> Result<
        (
            Arc<WebSocketTransport>,
            async_channel::Receiver<TransportEvent>,
        ),
        ConnectError,
    > {
        let target = Target::parse(&self.url, &self.origin)?;
        #[cfg(feature = "danger-skip-tls-verify")]
        if self.insecure && target.secure {
            tracing::warn!(
                url = %self.url,
                "TLS CERTIFICATE VERIFICATION IS DISABLED (danger-skip-tls-verify): this connection can be intercepted"
            );
        }
        let tcp = tcp_connect(&target.host, target.port, stage).await?;
        if target.secure {
            stage.store(ConnectStage::Tls as u8, Ordering::SeqCst);
            let name = ServerName::try_from(target.host.clone()).map_err(|e| {
                ConnectError::InvalidUrl {
                    url: self.url.clone(),
                    reason: format!("bad tls server name: {e}"),
                }
            })?;
            let tls =
                self.connector
                    .connect(name, tcp)
                    .await
                    .map_err(|error| ConnectError::Tls {
                        host: target.host.clone(),
                        error,
                    })?;
            stage.store(ConnectStage::WebSocket as u8, Ordering::SeqCst);
            self.upgrade(target.request, tls).await
        } else {
            stage.store(ConnectStage::WebSocket as u8, Ordering::SeqCst);
            self.upgrade(target.request, tcp).await
        }
    }

    async fn upgrade<S>(
        &self,
        request: Request,
        stream: S,
    ) -> Result<
        (
            Arc<WebSocketTransport>,
            async_channel::Receiver<TransportEvent>,
        ),
        ConnectError,
    >
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let config = WebSocketConfig::default()
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_message_size));
        let (ws, _response): (WebSocketStream<S>, _) =
            async_tungstenite::client_async_with_config(request, stream, Some(config))
                .await
                .map_err(|e| ConnectError::Handshake(Box::new(e)))?;
        tracing::debug!(url = %self.url, "websocket connected");
        Ok(WebSocketTransport::start(ws, self.tuning))
    }
}

#[async_trait]
impl TransportFactory for WebSocketTransportFactory {
    async fn create_transport(
        &self,
    ) -> anyhow::Result<(Arc<dyn Transport>, async_channel::Receiver<TransportEvent>)> {
        let (transport, events) = self.connect().await?;
        Ok((transport, events))
    }
}

/// What to connect to, from the URL and origin.
struct Target {
    request: Request,
    host: String,
    port: u16,
    secure: bool,
}

impl Target {
    fn parse(url: &str, origin: &str) -> Result<Self, ConnectError> {
        let invalid = |reason: String| ConnectError::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        let mut request = url
            .into_client_request()
            .map_err(|e| invalid(e.to_string()))?;
        if !origin.is_empty() {
            let value = HeaderValue::from_str(origin).map_err(|_| ConnectError::InvalidOrigin {
                origin: origin.to_owned(),
            })?;
            request.headers_mut().insert(ORIGIN, value);
        }
        let uri = request.uri();
        let secure = match uri.scheme_str() {
            Some("wss") => true,
            Some("ws") => false,
            other => {
                return Err(invalid(format!(
                    "scheme must be ws or wss, not {}",
                    other.unwrap_or("(none)")
                )));
            }
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid("no host".to_owned()))?;
        // An IPv6 literal keeps its brackets in the URI; DNS and TLS want it bare.
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .to_owned();
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        Ok(Self {
            request,
            host,
            port,
            secure,
        })
    }
}

/// Resolves `host` and connects to its addresses in order, keeping the last error.
async fn tcp_connect(host: &str, port: u16, stage: &AtomicU8) -> Result<TcpStream, ConnectError> {
    stage.store(ConnectStage::Dns as u8, Ordering::SeqCst);
    let addrs = smol::net::resolve((host, port))
        .await
        .map_err(|error| ConnectError::Dns {
            host: host.to_owned(),
            error,
        })?;
    stage.store(ConnectStage::Tcp as u8, Ordering::SeqCst);
    let mut last = std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "the name resolved to no address",
    );
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(tcp) => {
                // Frames are written whole; don't hold small ones back.
                let _ = tcp.set_nodelay(true);
                return Ok(tcp);
            }
            Err(e) => last = e,
        }
    }
    Err(ConnectError::Connect {
        host: host.to_owned(),
        port,
        error: last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_the_origin_is_set() {
        let t = Target::parse("wss://web.whatsapp.com/ws/chat", WHATSAPP_WEB_ORIGIN).unwrap();
        assert!(t.secure);
        assert_eq!((t.host.as_str(), t.port), ("web.whatsapp.com", 443));
        assert_eq!(t.request.uri().path(), "/ws/chat");
        assert_eq!(
            t.request.headers().get(ORIGIN).unwrap(),
            "https://web.whatsapp.com"
        );

        let t = Target::parse("ws://[::1]:8080/x", "").unwrap();
        assert!(!t.secure);
        assert_eq!((t.host.as_str(), t.port), ("::1", 8080));
        assert!(t.request.headers().get(ORIGIN).is_none());

        for bad in ["https://example.com/", "not a url", "wss:///path"] {
            let err = Target::parse(bad, "").err().expect(bad);
            assert!(
                matches!(err, ConnectError::InvalidUrl { .. }),
                "{bad}: {err}"
            );
        }
        let err = Target::parse("wss://a.example/", "bad\norigin")
            .err()
            .unwrap();
        assert!(matches!(err, ConnectError::InvalidOrigin { .. }), "{err}");
    }

    #[test]
    fn defaults_come_from_wa_core() {
        let f = WebSocketTransportFactory::default();
        assert_eq!(f.url(), WHATSAPP_WEB_WS_URL);
        assert_eq!(f.origin(), WHATSAPP_WEB_ORIGIN);
        assert_eq!(f.connect_timeout(), Duration::from_secs(20));
        let f = f
            .with_url("ws://127.0.0.1:1/")
            .with_origin("https://o.example");
        assert_eq!(f.url(), "ws://127.0.0.1:1/");
        assert_eq!(f.origin(), "https://o.example");
        assert!(!WebSocketTransportFactory::default_root_store().is_empty());
    }
}
