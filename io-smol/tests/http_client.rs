//! `SmolHttpClient` against a real HTTP(S) server on 127.0.0.1 (a throwaway CA
//! for TLS): statuses, bodies, caps, timeouts, certificates and streaming.

mod http_support;

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use http_support::{Handler, Server, bounded, respond};
use ureq::tls::{Certificate, RootCerts, TlsConfig};
use wa_core::net::{HttpClient, HttpRequest};
use wa_io_smol::http::{HttpError, SmolHttpClient};

fn trusting(server: &Server) -> TlsConfig {
    let ca = Certificate::from_der(server.ca_der().as_ref()).to_owned();
    TlsConfig::builder()
        .root_certs(RootCerts::new_with_certs(&[ca]))
        .build()
}

fn http_error(err: &anyhow::Error) -> &HttpError {
    err.downcast_ref::<HttpError>()
        .unwrap_or_else(|| panic!("not an HttpError: {err:#}"))
}

/// /ok → 200, /missing → 404, /boom → 500, each with a body naming it.
fn status_routes() -> Handler {
    Arc::new(|req, w| match req.path.as_str() {
        "/ok" => respond(w, 200, b"fine"),
        "/missing" => respond(w, 404, b"no such thing"),
        _ => respond(w, 500, b"it broke"),
    })
}

#[test]
fn every_status_is_an_ok_exchange_over_https() {
    bounded(|| {
        let server = Server::https(status_routes());
        let client = SmolHttpClient::builder()
            .tls_config(trusting(&server))
            .build();
        smol::block_on(async {
            for (path, status, body) in [
                ("/ok", 200, &b"fine"[..]),
                ("/missing", 404, b"no such thing"),
                ("/boom", 500, b"it broke"),
            ] {
                let resp = client
                    .execute(HttpRequest::get(server.url(path)))
                    .await
                    .unwrap_or_else(|e| panic!("{path}: {e:#}"));
                assert_eq!(resp.status_code, status, "{path}");
                assert_eq!(resp.body, body, "{path}");
            }
        });
        // Three requests, and the pool kept them on one connection or more:
        // what matters is that the server saw each of them.
        assert_eq!(server.requests(), 3);
    });
}

#[test]
fn statuses_over_plain_http_and_streaming() {
    bounded(|| {
        let server = Server::http(status_routes());
        let client = SmolHttpClient::new();
        let resp =
            smol::block_on(client.execute(HttpRequest::get(server.url("/missing")))).unwrap();
        assert_eq!(
            (resp.status_code, &resp.body[..]),
            (404, &b"no such thing"[..])
        );

        assert!(client.supports_streaming());
        let mut resp = client
            .execute_streaming(HttpRequest::get(server.url("/boom")))
            .unwrap();
        assert_eq!(resp.status_code, 500);
        let mut body = String::new();
        resp.body.read_to_string(&mut body).unwrap();
        assert_eq!(body, "it broke");
    });
}

#[test]
fn method_headers_and_body_reach_the_server() {
    bounded(|| {
        let seen = Arc::new(Mutex::new(None));
        let seen2 = seen.clone();
        let server = Server::http(Arc::new(move |req, w| {
            *seen2.lock().unwrap() = Some(req.clone());
            respond(w, 201, b"created")
        }));
        let client = SmolHttpClient::new();
        let req = HttpRequest::post(server.url("/upload?auth=secret"))
            .with_header("Origin", "https://web.whatsapp.com")
            .with_header("Content-Type", "application/octet-stream")
            .with_body(vec![0u8, 1, 2, 255]);
        let resp = smol::block_on(client.execute(req)).unwrap();
        assert_eq!(resp.status_code, 201);
        let req = seen
            .lock()
            .unwrap()
            .clone()
            .expect("the server saw the request");
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/upload?auth=secret");
        assert_eq!(req.header("origin"), Some("https://web.whatsapp.com"));
        assert_eq!(req.header("content-type"), Some("application/octet-stream"));
        assert_eq!(req.body, [0u8, 1, 2, 255]);
    });
}

#[test]
fn an_untrusted_certificate_is_refused() {
    bounded(|| {
        let server = Server::https(status_routes());
        // Default client: Mozilla roots only, which do not include the test CA.
        let client = SmolHttpClient::new();
        let err = smol::block_on(client.execute(HttpRequest::get(server.url("/ok?tok=1"))))
            .expect_err("the throwaway CA must not be trusted by default");
        let e = http_error(&err);
        assert!(matches!(e, HttpError::Request { .. }), "{e}");
        let msg = format!("{err:#}");
        assert!(msg.to_lowercase().contains("certificate"), "{msg}");
        assert!(
            !msg.contains("tok=1"),
            "the query must not reach messages: {msg}"
        );
        // Streaming takes the same path.
        let err = client
            .execute_streaming(HttpRequest::get(server.url("/ok")))
            .expect_err("refused when streaming too");
        assert!(matches!(http_error(&err), HttpError::Request { .. }));
        assert_eq!(
            server.requests(),
            0,
            "no request may pass an untrusted TLS session"
        );
    });
}

#[test]
fn a_custom_agent_trusting_the_ca_is_accepted_and_keeps_statuses_ok() {
    bounded(|| {
        let server = Server::https(status_routes());
        // An agent configured elsewhere, with ureq's default of turning 4xx/5xx
        // into errors left on: the client still returns them as exchanges.
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(trusting(&server))
            .timeout_connect(Some(Duration::from_secs(5)))
            .build()
            .into();
        assert!(agent.config().http_status_as_error());
        let client = SmolHttpClient::with_agent(agent);
        let resp =
            smol::block_on(client.execute(HttpRequest::get(server.url("/missing")))).unwrap();
        assert_eq!(
            (resp.status_code, &resp.body[..]),
            (404, &b"no such thing"[..])
        );
        let resp = client
            .execute_streaming(HttpRequest::get(server.url("/boom")))
            .unwrap();
        assert_eq!(resp.status_code, 500);
    });
}

#[test]
fn the_body_cap_refuses_an_oversized_body() {
    bounded(|| {
        // /announced: Content-Length says 2000; /chunked: no length, 2000
        // bytes in chunks; /exact: 1000 bytes.
        let server = Server::http(Arc::new(|req, w| match req.path.as_str() {
            "/announced" => respond(w, 200, &[7u8; 2000]),
            "/exact" => respond(w, 200, &[7u8; 1000]),
            _ => {
                w.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")?;
                for _ in 0..20 {
                    w.write_all(b"64\r\n")?;
                    w.write_all(&[7u8; 100])?;
                    w.write_all(b"\r\n")?;
                }
                w.write_all(b"0\r\n\r\n")
            }
        }));
        let client = SmolHttpClient::builder().max_body_size(1000).build();
        for path in ["/announced", "/chunked"] {
            let err =
                smol::block_on(client.execute(HttpRequest::get(server.url(path)))).expect_err(path);
            match http_error(&err) {
                HttpError::BodyTooLarge { limit, .. } => assert_eq!(*limit, 1000),
                other => panic!("{path}: {other}"),
            }
        }
        let ok = smol::block_on(client.execute(HttpRequest::get(server.url("/exact")))).unwrap();
        assert_eq!(ok.body.len(), 1000);
        // The cap is for `execute` only: a stream reads past it.
        let mut resp = client
            .execute_streaming(HttpRequest::get(server.url("/chunked")))
            .unwrap();
        let mut n = 0;
        let mut buf = [0u8; 512];
        loop {
            match resp.body.read(&mut buf).unwrap() {
                0 => break,
                k => n += k,
            }
        }
        assert_eq!(n, 2000);
    });
}

/// Handler that sends `prefix` then stalls until `release` is set (or 20 s).
fn staller(prefix: &'static [u8], release: Arc<AtomicBool>) -> Handler {
    Arc::new(move |_req, w| {
        w.write_all(prefix)?;
        w.flush()?;
        let start = Instant::now();
        while !release.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(std::io::Error::other("released"))
    })
}

#[test]
fn a_stalled_server_hits_the_read_timeout() {
    bounded(|| {
        let release = Arc::new(AtomicBool::new(false));
        // Nothing at all after the request.
        let silent = Server::http(staller(b"", release.clone()));
        // Headers and half the body, then nothing.
        let half = Server::http(staller(
            b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhello",
            release.clone(),
        ));
        let client = SmolHttpClient::builder()
            .read_timeout(Duration::from_millis(300))
            .build();

        for server in [&silent, &half] {
            let err = smol::block_on(client.execute(HttpRequest::get(server.url("/"))))
                .expect_err("a stalled server must time out");
            let e = http_error(&err);
            assert!(e.is_timeout(), "{e}");
        }

        // Streaming: the first bytes arrive, then the read times out.
        let mut resp = client
            .execute_streaming(HttpRequest::get(half.url("/")))
            .unwrap();
        assert_eq!(resp.status_code, 200);
        let mut buf = [0u8; 64];
        let mut got = Vec::new();
        let err = loop {
            match resp.body.read(&mut buf) {
                Ok(0) => panic!("the body cannot end early without an error"),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => break e,
            }
        };
        assert_eq!(got, b"hello");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
        release.store(true, Ordering::SeqCst);
    });
}

#[test]
fn a_refused_connection_is_an_error_not_a_status() {
    bounded(|| {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let client = SmolHttpClient::builder()
            .connect_timeout(Duration::from_secs(2))
            .build();
        let err =
            smol::block_on(client.execute(HttpRequest::get(format!("http://127.0.0.1:{port}/"))))
                .expect_err("nothing listens there");
        assert!(
            matches!(
                http_error(&err),
                HttpError::Request { .. } | HttpError::Timeout { .. }
            ),
            "{err:#}"
        );
    });
}

#[test]
fn concurrent_requests_run_on_the_blocking_pool() {
    bounded(|| {
        let server = Server::http(Arc::new(|req, w| respond(w, 200, req.path.as_bytes())));
        let client = SmolHttpClient::new();
        let bodies = smol::block_on(async {
            let tasks: Vec<_> = (0..16)
                .map(|i| {
                    let client = client.clone();
                    let url = server.url(&format!("/{i}"));
                    smol::spawn(async move { client.execute(HttpRequest::get(url)).await })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap().body);
            }
            out
        });
        for (i, body) in bodies.iter().enumerate() {
            assert_eq!(body, format!("/{i}").as_bytes());
        }
    });
}

const MIB: usize = 1 << 20;

fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

#[test]
fn ten_mib_streams_without_being_buffered_whole() {
    bounded(|| {
        // The server sends 1 MiB, then waits until the client says it has read
        // it; only then the remaining 9 MiB. A client that buffered the whole
        // body before returning would never see the first MiB: the server gives
        // up after 20 s and the test fails.
        let (read_first_tx, read_first_rx) = mpsc::channel::<()>();
        let read_first_rx = Arc::new(Mutex::new(read_first_rx));
        let confirmed = Arc::new(AtomicBool::new(false));
        let confirmed2 = confirmed.clone();
        let server = Server::https(Arc::new(move |_req, w| {
            write!(w, "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", 10 * MIB)?;
            let chunk: Vec<u8> = (0..MIB).map(pattern).collect();
            w.write_all(&chunk)?;
            w.flush()?;
            let ok = read_first_rx
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(20))
                .is_ok();
            if !ok {
                return Err(std::io::Error::other("client never read the first MiB"));
            }
            confirmed2.store(true, Ordering::SeqCst);
            for k in 1..10 {
                // Same pattern, continued (MIB is not a multiple of 251).
                let chunk: Vec<u8> = (k * MIB..(k + 1) * MIB).map(pattern).collect();
                w.write_all(&chunk)?;
            }
            w.flush()
        }));
        let client = SmolHttpClient::builder()
            .tls_config(trusting(&server))
            .build();
        let mut resp = client
            .execute_streaming(HttpRequest::get(server.url("/media")))
            .unwrap();
        assert_eq!(resp.status_code, 200);

        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0usize;
        let mut reads = 0usize;
        let mut signalled = false;
        loop {
            let n = resp.body.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            for (j, b) in buf[..n].iter().enumerate() {
                assert_eq!(*b, pattern(total + j), "byte {}", total + j);
            }
            total += n;
            reads += 1;
            if !signalled && total >= MIB {
                assert!(
                    !confirmed.load(Ordering::SeqCst),
                    "the rest was sent before we asked for it"
                );
                read_first_tx.send(()).unwrap();
                signalled = true;
            }
        }
        assert!(signalled);
        assert!(confirmed.load(Ordering::SeqCst));
        assert_eq!(total, 10 * MIB);
        // Read through a 64 KiB buffer: at least 160 reads.
        assert!(reads >= 10 * MIB / buf.len(), "{reads} reads");
    });
}

#[test]
fn download_to_writer_streams_a_large_body_on_the_blocking_pool() {
    use wa_core::net::download_to_writer;
    bounded(|| {
        // 3 MiB: more than any single read.
        let body: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let served = body.clone();
        let server = Server::http(Arc::new(move |_req, w| respond(w, 200, &served)));
        let http: Arc<dyn HttpClient> = Arc::new(SmolHttpClient::new());
        let (file, n) = smol::block_on(download_to_writer(
            http,
            &wa_io_smol::SmolRuntime,
            HttpRequest::get(server.url("/media")),
            Vec::new(),
        ))
        .unwrap();
        assert_eq!(n, body.len() as u64);
        assert!(file == body, "the bytes arrive unchanged");
    });
}
