//! The announced WhatsApp Web version, at the client: before the first
//! connect the client refreshes a stale version (here from a local `sw.js`),
//! stores it with its fetch time in the device record and announces it in the
//! login; a failed fetch falls back without holding the connection up; a
//! fresh one is not fetched again.

mod client_support;
#[path = "http_support/mod.rs"]
mod http_support;

use std::sync::Arc;
use std::time::Duration;

use client_support::*;
use http_support::{Server, respond, sw_js};
use wa_core::store::{AppVersion, DeviceStore};
use wa_io_smol::http::SmolHttpClient;
use wa_io_smol::testserver::LoopbackServer;
use wa_io_smol::version::{DEFAULT_APP_VERSION, WebVersionPolicy, now_unix_ms};

fn sw_js_server() -> Server {
    Server::http(Arc::new(|req, w| match req.path.as_str() {
        "/sw.js" => respond(
            w,
            200,
            sw_js("\\\"client_revision\\\":1047000123").as_bytes(),
        ),
        _ => respond(w, 404, b"no"),
    }))
}

#[test]
fn a_stale_version_is_fetched_stored_and_announced() {
    let http = sw_js_server();
    bounded(async move {
        let server = LoopbackServer::builder().start().unwrap();
        let (store, _) = store_with_linked_device(30).await;
        let before = now_unix_ms();
        let client = builder(&server, store.clone())
            .web_version_policy(Some(WebVersionPolicy::new().with_url(http.url("/sw.js"))))
            .http_client(Arc::new(SmolHttpClient::new()))
            .start()
            .await
            .unwrap();
        let mut watch = Watch::new(&client);
        watch.logged_in().await;
        assert_eq!(http.requests(), 1);
        assert_eq!(
            server.records()[0].app_version,
            Some((2, 3000, 1_047_000_123))
        );
        let saved = store.load().await.unwrap().unwrap();
        assert_eq!(
            saved.app_version,
            Some(AppVersion {
                primary: 2,
                secondary: 3000,
                tertiary: 1_047_000_123
            })
        );
        assert!(saved.app_version_last_fetched_ms >= before);
        client.disconnect().await;

        // Fresh now: the next start does not fetch again.
        let client = builder(&server, store.clone())
            .web_version_policy(Some(WebVersionPolicy::new().with_url(http.url("/sw.js"))))
            .start()
            .await
            .unwrap();
        Watch::new(&client).logged_in().await;
        assert_eq!(http.requests(), 1);
        assert_eq!(
            server.records()[1].app_version,
            Some((2, 3000, 1_047_000_123))
        );
        client.disconnect().await;
    });
}

#[test]
fn a_failed_fetch_falls_back_and_does_not_hold_the_connection_up() {
    bounded(async {
        // Nothing listens here; and a server that never answers is cut by
        // the policy's timeout (half a second here).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let stalled = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stalled_url = format!("http://{}/sw.js", stalled.local_addr().unwrap());
        for url in [format!("http://127.0.0.1:{port}/sw.js"), stalled_url] {
            let server = LoopbackServer::builder().start().unwrap();
            let (store, device) = store_with_linked_device(31).await;
            let policy = WebVersionPolicy::new()
                .with_url(url)
                .with_fetch_timeout(Duration::from_millis(500));
            let client = builder(&server, store.clone())
                .web_version_policy(Some(policy))
                .start()
                .await
                .unwrap();
            Watch::new(&client).logged_in().await;
            let fallback = DEFAULT_APP_VERSION;
            assert_eq!(
                server.records()[0].app_version,
                Some((fallback.primary, fallback.secondary, fallback.tertiary))
            );
            // No fetch time recorded: the next start tries again.
            let saved = store.load().await.unwrap().unwrap();
            assert_eq!(
                saved.app_version_last_fetched_ms,
                device.app_version_last_fetched_ms
            );
            client.disconnect().await;
        }
        drop(stalled);
    });
}
