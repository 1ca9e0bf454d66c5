//! The HTTP client through a proxy: fetches the current WhatsApp Web version
//! from `sw.js` via an HTTP `CONNECT` or SOCKS5 proxy.
//!
//! ```text
//! cargo run -p wa-io-smol --example http_proxy -- PROXY_URL [--ca CA.pem] [--url SW_JS_URL]
//! ```
//!
//! `PROXY_URL` is `http://host:port` (HTTP CONNECT), `socks5://host:port` (the
//! target name resolved here) or `socks5h://host:port` (resolved by the proxy),
//! with `user:pass@` before the host if the proxy wants credentials. `--ca`
//! adds a PEM CA certificate to the trusted roots (a test server behind the
//! proxy); `--url` fetches another `sw.js`.
//!
//! # Combining both layers
//!
//! A client talks to WhatsApp over two network layers: this HTTP client (the
//! version check, media up- and downloads) and the chat WebSocket. Sending
//! only one through the proxy leaks the other, so route both:
//!
//! - HTTP: a [`SmolHttpClient`] built with the proxy, as below (or
//!   [`SmolHttpClient::with_agent`] with any [`ureq::Agent`] you configured);
//! - WebSocket: open the tunnel yourself and hand the WebSocket to
//!   `wa_io_smol::transport::WebSocketTransport::from_websocket`, inside a
//!   `TransportFactory` so reconnects use the proxy too. The example
//!   `proxy_transport.rs` beside this one does that for an HTTP `CONNECT`
//!   proxy (a SOCKS5 tunnel differs only in the tunnel request).
//!
//! Give both the same proxy URL; the client then uses the HTTP client for the
//! version check and media, and the factory for every connection.

use std::time::Duration;

use anyhow::{Context, bail};
use ureq::Proxy;
use ureq::tls::{Certificate, RootCerts, TlsConfig};
use wa_io_smol::http::SmolHttpClient;
use wa_io_smol::version::{SW_JS_URL, fetch_web_version_from};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut proxy_url = None;
    let mut ca_path = None;
    let mut url = SW_JS_URL.to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--ca" => ca_path = Some(args.next().context("--ca needs a file")?),
            "--url" => url = args.next().context("--url needs a URL")?,
            _ if proxy_url.is_none() => proxy_url = Some(arg),
            _ => bail!("unexpected argument {arg:?}"),
        }
    }
    let Some(proxy_url) = proxy_url else {
        bail!("usage: http_proxy PROXY_URL [--ca CA.pem] [--url SW_JS_URL]");
    };

    // The proxy, with HTTP CONNECT or SOCKS chosen by the URL's scheme.
    let proxy = Proxy::new(&proxy_url).context("bad proxy URL")?;
    let mut builder = SmolHttpClient::builder()
        .proxy(proxy)
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(20))
        .max_body_size(8 << 20);
    if let Some(path) = ca_path {
        let pem = std::fs::read(&path).with_context(|| format!("reading {path}"))?;
        let ca = Certificate::from_pem(&pem).context("not a PEM certificate")?;
        // Replaces the Mozilla roots: only servers signed by this CA are trusted.
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::new_with_certs(&[ca]))
            .build();
        builder = builder.tls_config(tls);
    }
    let http = builder.build();

    let version = smol::block_on(fetch_web_version_from(&http, &url))?;
    println!(
        "WhatsApp Web {}.{}.{} (via {})",
        version.primary,
        version.secondary,
        version.tertiary,
        Proxy::new(&proxy_url)?.protocol()
    );
    Ok(())
}
