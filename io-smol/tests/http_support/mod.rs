//! A tiny HTTP/1.1 test server on 127.0.0.1 (plain or TLS with a throwaway
//! rcgen CA), one thread per connection, shared by the `http_*` and
//! `version_*` tests. Each test hands it a handler that reads the parsed
//! request and writes the raw response, so a test can stall, stream or lie.
#![allow(dead_code)] // each test binary uses a different part

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Upper bound for any single test; a hang fails instead of blocking CI.
pub const TEST_BOUND: Duration = Duration::from_secs(30);

/// Runs `f` on a thread and fails the test if it does not return within
/// [`TEST_BOUND`].
pub fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(TEST_BOUND) {
        Ok(v) => v,
        // The closure panicked: report its panic, not a timeout.
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the worker sends before it returns"),
        },
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("test did not finish within {TEST_BOUND:?}")
        }
    }
}

/// A parsed request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == &name.to_ascii_lowercase())
            .map(|(_, v)| v.as_str())
    }
}

/// Writes the response for one request; an error closes the connection.
pub type Handler = Arc<dyn Fn(&Request, &mut dyn Write) -> io::Result<()> + Send + Sync>;

/// Writes a complete response with `Content-Length`.
pub fn respond(w: &mut dyn Write, status: u16, body: &[u8]) -> io::Result<()> {
    write!(
        w,
        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\ncontent-type: text/plain\r\n\r\n",
        body.len()
    )?;
    w.write_all(body)?;
    w.flush()
}

/// The throwaway CA and the server certificate it signed for 127.0.0.1.
pub struct Pki {
    pub ca_der: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Pki {
    pub fn new() -> Self {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "wa-io-smol http test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["127.0.0.1".into()]).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &*ca).unwrap();
        Self {
            ca_der: ca.der().clone(),
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        }
    }

    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .unwrap();
        Arc::new(config)
    }
}

/// A running server. It lives until the test process ends (threads blocked on
/// a stalled connection included); every test binds its own port.
pub struct Server {
    pub addr: SocketAddr,
    pub tls: Option<Arc<Pki>>,
    requests: Arc<AtomicUsize>,
}

impl Server {
    /// Plain HTTP.
    pub fn http(handler: Handler) -> Self {
        Self::start(None, handler)
    }

    /// HTTPS with a fresh throwaway CA.
    pub fn https(handler: Handler) -> Self {
        Self::start(Some(Arc::new(Pki::new())), handler)
    }

    fn start(tls: Option<Arc<Pki>>, handler: Handler) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let config = tls.as_ref().map(|p| p.server_config());
        let requests = Arc::new(AtomicUsize::new(0));
        let count = requests.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let handler = handler.clone();
                let config = config.clone();
                let count = count.clone();
                thread::spawn(move || {
                    let _ = serve(stream, config, handler, count);
                });
            }
        });
        Self {
            addr,
            tls,
            requests,
        }
    }

    /// `http(s)://127.0.0.1:port` + `path`.
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }

    /// The CA that signed the server certificate (HTTPS only).
    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.tls.as_ref().expect("an https server").ca_der.clone()
    }

    /// Requests whose head was read so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn serve(
    stream: TcpStream,
    config: Option<Arc<rustls::ServerConfig>>,
    handler: Handler,
    count: Arc<AtomicUsize>,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    match config {
        None => serve_requests(stream, &handler, &count),
        Some(config) => {
            let conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
            serve_requests(rustls::StreamOwned::new(conn, stream), &handler, &count)
        }
    }
}

fn serve_requests<S: Read + Write>(
    stream: S,
    handler: &Handler,
    count: &AtomicUsize,
) -> io::Result<()> {
    let mut reader = BufReader::new(stream);
    loop {
        let Some(request) = read_request(&mut reader)? else {
            return Ok(());
        };
        count.fetch_add(1, Ordering::SeqCst);
        let stream = reader.get_mut();
        handler(&request, stream)?;
        stream.flush()?;
    }
}

fn read_request<R: BufRead>(r: &mut R) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((n, v)) = l.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let len = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(Some(Request {
        method,
        path,
        headers,
        body,
    }))
}

/// The shape of `https://web.whatsapp.com/sw.js`: a service-worker bootstrap
/// whose site data is JSON inside a JS string, so every quote is escaped.
pub fn sw_js(revision_json: &str) -> String {
    format!(
        concat!(
            "/*FB_PKG_DELIM*/\n",
            "self.__swData=JSON.parse(/*BTDS*/\"{{\\\"dynamic_data\\\":{{\\\"SiteData\\\":",
            "{{\\\"server_revision\\\":1045649301,{revision},\\\"hsi\\\":\\\"7512345678901234567\\\",",
            "\\\"spin\\\":0,\\\"__spin_b\\\":\\\"trunk\\\"}},\\\"LSD\\\":{{\\\"token\\\":\\\"AVq\\\"}}}},",
            "\\\"static_data\\\":{{\\\"assets\\\":[\\\"/rsrc.php/v4/yA/r/app.js\\\"]}}}}\");\n",
            "importScripts(\"https://static.whatsapp.net/rsrc.php/v4/y1/r/sw-runtime.js\");\n",
        ),
        revision = revision_json
    )
}
