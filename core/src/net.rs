//! Network contracts: the byte transport the core is driven over and the HTTP
//! client used for media and version checks.
//!
//! A [`Transport`] is a dumb pipe: it knows nothing about WhatsApp framing. The
//! driver feeds every [`TransportEvent::DataReceived`] chunk to the protocol core,
//! which reassembles frames itself (WebSocket message boundaries are not frame
//! boundaries, docs/protocol.md §1.1).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

/// The WhatsApp Web chat WebSocket endpoint (docs/protocol.md §1.1).
pub const WHATSAPP_WEB_WS_URL: &str = "wss://web.whatsapp.com/ws/chat";

/// The `Origin` header sent on the WebSocket upgrade and to media hosts
/// (docs/protocol.md §1.1).
pub const WHATSAPP_WEB_ORIGIN: &str = "https://web.whatsapp.com";

/// Why a transport (the byte pipe) ended, as the transport saw it. Not to be
/// confused with [`DisconnectReason`](crate::connection::DisconnectReason), why
/// the protocol connection on top of it ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportCloseReason {
    /// The peer sent a WebSocket close frame.
    ServerClose {
        /// The RFC 6455 close code, if the frame carried one.
        code: Option<u16>,
        /// The close reason text (may be empty).
        reason: String,
    },
    /// The stream reached end-of-file without a close frame.
    StreamEnded,
    /// A read or I/O error ended the connection.
    ReadError(String),
    /// The transport did not report a reason (for example a local shutdown).
    Unknown,
}

impl TransportCloseReason {
    /// True for a graceful, server-initiated end: EOF, or a close frame with no
    /// code, 1000 (normal) or 1001 (going away). Everything else is an error
    /// worth logging loudly.
    pub fn is_clean(&self) -> bool {
        match self {
            Self::StreamEnded => true,
            Self::ServerClose { code, .. } => matches!(code, None | Some(1000) | Some(1001)),
            Self::ReadError(_) | Self::Unknown => false,
        }
    }
}

impl fmt::Display for TransportCloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ServerClose {
                code: Some(c),
                reason,
            } if !reason.is_empty() => {
                write!(f, "server closed the connection (code {c}: {reason})")
            }
            Self::ServerClose { code: Some(c), .. } => {
                write!(f, "server closed the connection (code {c})")
            }
            Self::ServerClose { code: None, reason } if !reason.is_empty() => {
                write!(f, "server closed the connection ({reason})")
            }
            Self::ServerClose { code: None, .. } => write!(f, "server closed the connection"),
            Self::StreamEnded => write!(f, "stream ended"),
            Self::ReadError(e) => write!(f, "read error: {e}"),
            Self::Unknown => write!(f, "disconnected for an unknown reason"),
        }
    }
}

/// What a transport reports to its driver, in order: [`TransportEvent::Connected`]
/// first, any number of [`TransportEvent::DataReceived`], and exactly one
/// [`TransportEvent::Disconnected`] last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportEvent {
    /// The connection is open; the driver may start the handshake.
    Connected,
    /// Bytes arrived. Chunk boundaries carry no meaning.
    DataReceived(Bytes),
    /// The connection ended. No event follows this one.
    Disconnected(TransportCloseReason),
}

/// An open byte connection to the server.
///
/// # Example: a loopback mock for tests
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use bytes::Bytes;
/// use wa_core::net::{Transport, TransportEvent, TransportCloseReason};
///
/// struct MockTransport {
///     sent: Mutex<Vec<Bytes>>,
///     events: async_channel::Sender<TransportEvent>,
/// }
///
/// #[async_trait::async_trait]
/// impl Transport for MockTransport {
///     async fn send(&self, data: Bytes) -> anyhow::Result<()> {
///         self.sent.lock().unwrap().push(data);
///         Ok(())
///     }
///     async fn disconnect(&self) {
///         let _ = self.events.try_send(TransportEvent::Disconnected(TransportCloseReason::Unknown));
///         self.events.close();
///     }
/// }
/// ```
#[async_trait]
pub trait Transport: Send + Sync {
    /// Sends bytes to the server. The bytes may hold several frames.
    async fn send(&self, data: Bytes) -> anyhow::Result<()>;

    /// Closes the connection. The event stream then ends with one
    /// [`TransportEvent::Disconnected`].
    async fn disconnect(&self);
}

/// Opens new transports; the client calls it once per connection attempt.
#[async_trait]
pub trait TransportFactory: Send + Sync {
    /// Opens a connection and returns it with the stream of its events.
    async fn create_transport(
        &self,
    ) -> anyhow::Result<(Arc<dyn Transport>, async_channel::Receiver<TransportEvent>)>;
}

/// An HTTP request, built with [`HttpRequest::get`] or [`HttpRequest::post`].
///
/// ```
/// use wa_core::net::HttpRequest;
/// let req = HttpRequest::post("https://example.com/upload")
///     .with_header("Content-Type", "application/octet-stream")
///     .with_body(vec![1u8, 2, 3]);
/// assert_eq!(req.method, "POST");
/// assert_eq!(req.body.as_deref(), Some(&[1u8, 2, 3][..]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The absolute URL.
    pub url: String,
    /// The method, `GET` or `POST`.
    pub method: String,
    /// Request headers.
    pub headers: HashMap<String, String>,
    /// The body, if any.
    pub body: Option<Bytes>,
}

impl HttpRequest {
    fn with_method(method: &str, url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            method: method.to_owned(),
            headers: HashMap::new(),
            body: None,
        }
    }

    /// A `GET` request for `url`.
    pub fn get(url: impl Into<String>) -> Self {
        Self::with_method("GET", url)
    }

    /// A `POST` request for `url`.
    pub fn post(url: impl Into<String>) -> Self {
        Self::with_method("POST", url)
    }

    /// Adds (or replaces) a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Some(body.into());
        self
    }
}

/// A completed HTTP exchange with its body read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code; any status is a successful exchange.
    pub status_code: u16,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The body as UTF-8 text.
    pub fn body_string(&self) -> anyhow::Result<String> {
        Ok(std::str::from_utf8(&self.body)?.to_owned())
    }
}

/// A completed HTTP exchange whose body is read on demand.
pub struct StreamingHttpResponse {
    /// The status code.
    pub status_code: u16,
    /// A blocking reader over the body.
    pub body: Box<dyn std::io::Read + Send>,
}

impl fmt::Debug for StreamingHttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamingHttpResponse")
            .field("status_code", &self.status_code)
            .finish_non_exhaustive()
    }
}

/// An HTTP client the library can use without knowing the runtime.
///
/// A completed exchange is `Ok` whatever its status (the caller reads 401, 404 or
/// 410 itself); `Err` means no exchange happened (DNS, TLS, timeout, ...).
#[async_trait]
pub trait HttpClient: Send + Sync {
    /// Performs the request and reads the whole body.
    async fn execute(&self, request: HttpRequest) -> anyhow::Result<HttpResponse>;

    /// Whether [`HttpClient::execute_streaming`] is implemented. Defaults to false.
    fn supports_streaming(&self) -> bool {
        false
    }

    /// Performs the request and returns a reader over the body without
    /// buffering it. Blocking: call it from a blocking context
    /// ([`crate::runtime::Runtime::spawn_blocking`]). The default refuses.
    fn execute_streaming(&self, request: HttpRequest) -> anyhow::Result<StreamingHttpResponse> {
        anyhow::bail!(
            "this HTTP client does not support streaming responses (request to {})",
            request.url
        )
    }
}

/// Downloads `request`'s body into `writer` and returns the writer and how
/// many bytes it got.
///
/// With a client that streams ([`HttpClient::supports_streaming`]) the body
/// goes from the socket to the writer in chunks on the runtime's blocking pool,
/// never whole in memory; otherwise the body is fetched whole with
/// [`HttpClient::execute`] and written (the buffered fallback). A status other
/// than 2xx is an error and writes nothing.
///
/// ```
/// # use std::sync::Arc;
/// # use wa_core::net::{HttpClient, HttpRequest, HttpResponse, download_to_writer};
/// # struct Fixed;
/// # #[async_trait::async_trait]
/// # impl HttpClient for Fixed {
/// #     async fn execute(&self, _: HttpRequest) -> anyhow::Result<HttpResponse> {
/// #         Ok(HttpResponse { status_code: 200, body: b"media bytes".to_vec() })
/// #     }
/// # }
/// # struct Blocking;
/// # impl wa_core::runtime::Runtime for Blocking {
/// #     fn spawn(&self, _: wa_core::runtime::BoxFuture<'static, ()>) -> wa_core::runtime::AbortHandle { unimplemented!() }
/// #     fn spawn_blocking(&self, f: Box<dyn FnOnce() + Send>) -> wa_core::runtime::BoxFuture<'static, ()> { f(); Box::pin(async {}) }
/// #     fn sleep(&self, _: std::time::Duration) -> wa_core::runtime::BoxFuture<'static, ()> { Box::pin(async {}) }
/// #     fn yield_now(&self) -> Option<wa_core::runtime::BoxFuture<'static, ()>> { None }
/// # }
/// # smol::block_on(async {
/// let http: Arc<dyn HttpClient> = Arc::new(Fixed);
/// let (file, n) = download_to_writer(http, &Blocking, HttpRequest::get("https://mmg.example/x"), Vec::new()).await?;
/// assert_eq!((file.as_slice(), n), (&b"media bytes"[..], 11));
/// # anyhow::Ok(()) }).unwrap();
/// ```
pub async fn download_to_writer<W>(
    http: Arc<dyn HttpClient>,
    runtime: &dyn crate::runtime::Runtime,
    request: HttpRequest,
    mut writer: W,
) -> anyhow::Result<(W, u64)>
where
    W: std::io::Write + Send + 'static,
{
    fn check(status: u16, url: &str) -> anyhow::Result<()> {
        if !(200..300).contains(&status) {
            anyhow::bail!("download of {url} failed with HTTP status {status}");
        }
        Ok(())
    }
    if !http.supports_streaming() {
        let url = request.url.clone();
        let response = http.execute(request).await?;
        check(response.status_code, &url)?;
        writer.write_all(&response.body)?;
        writer.flush()?;
        return Ok((writer, response.body.len() as u64));
    }
    let result = Arc::new(std::sync::Mutex::new(None));
    let slot = Arc::clone(&result);
    runtime
        .spawn_blocking(Box::new(move || {
            let outcome = (|| {
                let url = request.url.clone();
                let mut response = http.execute_streaming(request)?;
                check(response.status_code, &url)?;
                let n = std::io::copy(&mut response.body, &mut writer)?;
                writer.flush()?;
                Ok((writer, n))
            })();
            if let Ok(mut slot) = slot.lock() {
                *slot = Some(outcome);
            }
        }))
        .await;
    let outcome = result.lock().ok().and_then(|mut r| r.take());
    outcome.unwrap_or_else(|| Err(anyhow::anyhow!("the download task ended without a result")))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoStreaming;

    #[async_trait]
    impl HttpClient for NoStreaming {
        async fn execute(&self, _request: HttpRequest) -> anyhow::Result<HttpResponse> {
            Ok(HttpResponse {
                status_code: 404,
                body: b"missing".to_vec(),
            })
        }
    }

    #[test]
    fn request_builder_sets_every_part() {
        let r = HttpRequest::get("https://a.example/x")
            .with_header("A", "1")
            .with_header("A", "2");
        assert_eq!(r.method, "GET");
        assert_eq!(r.url, "https://a.example/x");
        assert_eq!(r.headers.get("A").map(String::as_str), Some("2"));
        assert!(r.body.is_none());
        let p = HttpRequest::post("u").with_body(&b"hi"[..]);
        assert_eq!(p.method, "POST");
        assert_eq!(p.body, Some(Bytes::from_static(b"hi")));
    }

    #[test]
    fn streaming_defaults_to_a_clear_error() {
        let c = NoStreaming;
        assert!(!c.supports_streaming());
        let err = c
            .execute_streaming(HttpRequest::get("https://x.example/f"))
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("does not support streaming"), "{msg}");
        assert!(msg.contains("https://x.example/f"), "{msg}");
    }

    #[test]
    fn non_2xx_is_still_an_ok_exchange() {
        let resp = smol::block_on(NoStreaming.execute(HttpRequest::get("u"))).unwrap();
        assert_eq!(resp.status_code, 404);
        assert_eq!(resp.body_string().unwrap(), "missing");
    }

    #[test]
    fn disconnect_reasons_classify_and_display() {
        assert!(TransportCloseReason::StreamEnded.is_clean());
        let close = |code| TransportCloseReason::ServerClose {
            code,
            reason: String::new(),
        };
        assert!(close(None).is_clean());
        assert!(close(Some(1000)).is_clean());
        assert!(close(Some(1001)).is_clean());
        assert!(!close(Some(1011)).is_clean());
        assert!(!TransportCloseReason::ReadError("reset".into()).is_clean());
        assert!(!TransportCloseReason::Unknown.is_clean());
        let with_text = TransportCloseReason::ServerClose {
            code: Some(4000),
            reason: "bye".into(),
        };
        assert_eq!(
            with_text.to_string(),
            "server closed the connection (code 4000: bye)"
        );
    }

    #[test]
    fn default_endpoint_constants() {
        assert_eq!(WHATSAPP_WEB_WS_URL, "wss://web.whatsapp.com/ws/chat");
        assert_eq!(WHATSAPP_WEB_ORIGIN, "https://web.whatsapp.com");
    }

    /// Streams `body` in chunks of 3 bytes with `status`.
    struct Streaming {
        status: u16,
        body: Vec<u8>,
    }

    #[async_trait]
    impl HttpClient for Streaming {
        async fn execute(&self, _request: HttpRequest) -> anyhow::Result<HttpResponse> {
            anyhow::bail!("the streaming path must be used")
        }
        fn supports_streaming(&self) -> bool {
            true
        }
        fn execute_streaming(
            &self,
            _request: HttpRequest,
        ) -> anyhow::Result<StreamingHttpResponse> {
            struct Chunks(std::vec::IntoIter<u8>);
            impl std::io::Read for Chunks {
                fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                    let mut n = 0;
                    while n < buf.len().min(3) {
                        match self.0.next() {
                            Some(b) => {
                                buf[n] = b;
                                n += 1;
                            }
                            None => break,
                        }
                    }
                    Ok(n)
                }
            }
            Ok(StreamingHttpResponse {
                status_code: self.status,
                body: Box::new(Chunks(self.body.clone().into_iter())),
            })
        }
    }

    /// Runs blocking work inline.
    struct Inline;

    impl crate::runtime::Runtime for Inline {
        fn spawn(
            &self,
            _future: crate::runtime::BoxFuture<'static, ()>,
        ) -> crate::runtime::AbortHandle {
            unimplemented!("not used")
        }
        fn spawn_blocking(
            &self,
            f: Box<dyn FnOnce() + Send + 'static>,
        ) -> crate::runtime::BoxFuture<'static, ()> {
            f();
            Box::pin(async {})
        }
        fn sleep(&self, _duration: std::time::Duration) -> crate::runtime::BoxFuture<'static, ()> {
            Box::pin(async {})
        }
        fn yield_now(&self) -> Option<crate::runtime::BoxFuture<'static, ()>> {
            None
        }
    }

    #[test]
    fn download_streams_when_it_can_and_buffers_otherwise() {
        let body: Vec<u8> = (0..=255).collect();
        let http: Arc<dyn HttpClient> = Arc::new(Streaming {
            status: 200,
            body: body.clone(),
        });
        let (got, n) = smol::block_on(download_to_writer(
            http,
            &Inline,
            HttpRequest::get("u"),
            Vec::new(),
        ))
        .unwrap();
        assert_eq!((got, n), (body, 256));

        // Buffered fallback; a non-2xx status is an error and writes nothing.
        let http: Arc<dyn HttpClient> = Arc::new(NoStreaming);
        let err = smol::block_on(download_to_writer(
            http,
            &Inline,
            HttpRequest::get("https://x.example/f"),
            Vec::new(),
        ))
        .unwrap_err();
        assert!(err.to_string().contains("HTTP status 404"), "{err}");
        let http: Arc<dyn HttpClient> = Arc::new(Streaming {
            status: 410,
            body: vec![1, 2, 3],
        });
        let err = smol::block_on(download_to_writer(
            http,
            &Inline,
            HttpRequest::get("u"),
            Vec::new(),
        ))
        .unwrap_err();
        assert!(err.to_string().contains("410"), "{err}");
    }
}
