//! `SmolHttpClient` through an HTTP CONNECT proxy and a SOCKS5 proxy, both
//! small loopback servers written here, to an HTTPS server with a throwaway CA.

mod http_support;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use http_support::{Server, bounded, respond};
use ureq::Proxy;
use ureq::tls::{Certificate, RootCerts, TlsConfig};
use wa_core::net::{HttpClient, HttpRequest};
use wa_io_smol::http::SmolHttpClient;

/// A proxy listening on 127.0.0.1 that records the targets it was asked for.
struct TestProxy {
    addr: SocketAddr,
    targets: Arc<Mutex<Vec<String>>>,
}

impl TestProxy {
    fn start(handshake: fn(&mut TcpStream) -> io::Result<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let targets = Arc::new(Mutex::new(Vec::new()));
        let seen = targets.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut client) = stream else { continue };
                let seen = seen.clone();
                thread::spawn(move || -> io::Result<()> {
                    let target = handshake(&mut client)?;
                    seen.lock().unwrap().push(target);
                    Ok(())
                });
            }
        });
        Self { addr, targets }
    }

    fn targets(&self) -> Vec<String> {
        self.targets.lock().unwrap().clone()
    }
}

/// Copies bytes both ways until either side closes.
fn splice(a: TcpStream, b: TcpStream) -> io::Result<()> {
    let (mut a2, mut b2) = (a.try_clone()?, b.try_clone()?);
    let (mut a, mut b) = (a, b);
    thread::spawn(move || {
        let _ = io::copy(&mut a2, &mut b2);
        let _ = b2.shutdown(std::net::Shutdown::Write);
    });
    let _ = io::copy(&mut b, &mut a);
    let _ = a.shutdown(std::net::Shutdown::Write);
    Ok(())
}

/// `CONNECT host:port HTTP/1.1`, answered with 200, then a tunnel.
fn http_connect(client: &mut TcpStream) -> io::Result<String> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next(), parts.next().map(str::to_owned));
    let (Some("CONNECT"), Some(target)) = (method, target) else {
        client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")?;
        return Err(io::Error::other("not a CONNECT"));
    };
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
            break;
        }
    }
    let upstream = TcpStream::connect(&target)?;
    client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    let c = client.try_clone()?;
    thread::spawn(move || splice(c, upstream));
    Ok(format!("CONNECT {target}"))
}

/// SOCKS5 without authentication, CONNECT only (RFC 1928).
fn socks5(client: &mut TcpStream) -> io::Result<String> {
    let mut head = [0u8; 2];
    client.read_exact(&mut head)?;
    let mut methods = vec![0u8; usize::from(head[1])];
    client.read_exact(&mut methods)?;
    if head[0] != 5 || !methods.contains(&0) {
        client.write_all(&[5, 0xff])?;
        return Err(io::Error::other("no acceptable method"));
    }
    client.write_all(&[5, 0])?;
    let mut req = [0u8; 4];
    client.read_exact(&mut req)?;
    let host = match req[3] {
        1 => {
            let mut ip = [0u8; 4];
            client.read_exact(&mut ip)?;
            Ipv4Addr::from(ip).to_string()
        }
        3 => {
            let mut len = [0u8; 1];
            client.read_exact(&mut len)?;
            let mut name = vec![0u8; usize::from(len[0])];
            client.read_exact(&mut name)?;
            String::from_utf8_lossy(&name).into_owned()
        }
        4 => {
            let mut ip = [0u8; 16];
            client.read_exact(&mut ip)?;
            format!("[{}]", Ipv6Addr::from(ip))
        }
        _ => return Err(io::Error::other("bad address type")),
    };
    let mut port = [0u8; 2];
    client.read_exact(&mut port)?;
    let target = format!("{host}:{}", u16::from_be_bytes(port));
    if req[1] != 1 {
        client.write_all(&[5, 7, 0, 1, 0, 0, 0, 0, 0, 0])?;
        return Err(io::Error::other("not CONNECT"));
    }
    let upstream = TcpStream::connect(&target)?;
    client.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0])?;
    let c = client.try_clone()?;
    thread::spawn(move || splice(c, upstream));
    Ok(format!("SOCKS5 {target}"))
}

fn https_server() -> (Server, TlsConfig) {
    let server = Server::https(Arc::new(|req, w| {
        let status = if req.path == "/gone" { 410 } else { 200 };
        respond(w, status, format!("via proxy {}", req.path).as_bytes())
    }));
    let ca = Certificate::from_der(server.ca_der().as_ref()).to_owned();
    let tls = TlsConfig::builder()
        .root_certs(RootCerts::new_with_certs(&[ca]))
        .build();
    (server, tls)
}

#[test]
fn https_through_an_http_connect_proxy() {
    bounded(|| {
        let (server, tls) = https_server();
        let proxy = TestProxy::start(http_connect);
        let client = SmolHttpClient::builder()
            .proxy(Proxy::new(&format!("http://{}", proxy.addr)).unwrap())
            .tls_config(tls)
            .build();
        let resp = smol::block_on(client.execute(HttpRequest::get(server.url("/a")))).unwrap();
        assert_eq!(
            (resp.status_code, &resp.body[..]),
            (200, &b"via proxy /a"[..])
        );
        let resp = client
            .execute_streaming(HttpRequest::get(server.url("/gone")))
            .unwrap();
        assert_eq!(resp.status_code, 410);
        let targets = proxy.targets();
        assert!(!targets.is_empty());
        for t in &targets {
            assert_eq!(t, &format!("CONNECT {}", server.addr));
        }
    });
}

#[test]
fn https_through_a_socks5_proxy_from_a_custom_agent() {
    bounded(|| {
        let (server, tls) = https_server();
        let proxy = TestProxy::start(socks5);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .proxy(Some(
                Proxy::new(&format!("socks5://{}", proxy.addr)).unwrap(),
            ))
            .tls_config(tls)
            .build()
            .into();
        let client = SmolHttpClient::with_agent(agent);
        let resp = smol::block_on(client.execute(HttpRequest::get(server.url("/b")))).unwrap();
        assert_eq!(
            (resp.status_code, &resp.body[..]),
            (200, &b"via proxy /b"[..])
        );
        assert_eq!(proxy.targets(), [format!("SOCKS5 {}", server.addr)]);
    });
}

#[test]
fn a_dead_proxy_fails_the_request() {
    bounded(|| {
        let (server, tls) = https_server();
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let client = SmolHttpClient::builder()
            .proxy(Proxy::new(&format!("socks5://127.0.0.1:{port}")).unwrap())
            .tls_config(tls)
            .build();
        smol::block_on(client.execute(HttpRequest::get(server.url("/c"))))
            .expect_err("the proxy is not there: no direct fallback");
        assert_eq!(server.requests(), 0);
    });
}
