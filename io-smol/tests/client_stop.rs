//! When the client stops for good: a replaced stream, a logout (ours or the
//! server's), a refused login, a disconnect, the last handle dropped.

mod client_support;

use std::sync::Arc;

use client_support::*;
use wa_core::binary::Node;
use wa_core::connection::{DisconnectReason, FailureReason, IqError, StreamError};
use wa_core::store::{Device, DeviceStore};
use wa_core::testing::{IqReply, LoginReply};
use wa_io_smol::client::{Event, RequestError, StopReason};
use wa_io_smol::testserver::{Control, LoopbackServer};

/// The stored device no longer holds `old`'s credentials: new keys, no
/// account, no JIDs.
async fn assert_wiped(store: &dyn DeviceStore, old: &Device) {
    let now = store
        .load()
        .await
        .unwrap()
        .expect("a fresh identity is stored");
    assert!(!now.is_registered());
    assert!(now.pn.is_none() && now.lid.is_none() && now.account.is_none());
    assert_ne!(now.noise_key, old.noise_key);
    assert_ne!(now.identity_key, old.identity_key);
    assert_ne!(now.adv_secret_key, old.adv_secret_key);
    assert_eq!(now.verify_signed_pre_key(), Ok(()));
}

#[test]
fn a_replaced_stream_stops_without_reconnecting() {
    bounded(async {
        let server = LoopbackServer::builder()
            .on_connection(|_, server, _| server.set_iq_handler(|_| IqReply::Ignore))
            .start()
            .unwrap();
        let (store, device) = store_with_linked_device(10).await;
        let client = builder(&server, store.clone()).start().await.unwrap();
        let mut watch = Watch::new(&client);
        watch.logged_in().await;
        let pending = {
            let client = client.clone();
            smol::spawn(async move {
                let lost = Node::new("iq")
                    .with_attr("xmlns", "lost")
                    .with_attr("type", "get");
                client.send_iq(lost).await
            })
        };
        // Let the request reach the connection before the takeover.
        eventually(|| server.records()[0].received.iter().any(|n| n.tag == "iq")).await;
        server.control(Control::StreamError {
            code: None,
            child: Some(Node::new("conflict").with_attr("type", "replaced")),
        });
        let rest = watch.rest().await;
        assert!(
            matches!(
                &rest[..],
                [
                    Event::Disconnected {
                        reason: DisconnectReason::StreamError(StreamError::Replaced),
                        reconnect: false
                    },
                    Event::Stopped(StopReason::Replaced)
                ]
            ),
            "{rest:#?}"
        );
        // The request in flight failed instead of hanging.
        assert!(matches!(
            pending.await,
            Err(RequestError::Iq(IqError::Disconnected))
        ));
        assert!(client.is_stopped());
        assert_eq!(server.connections(), 1, "no reconnect after replaced");
        // The device is untouched.
        let saved = store.load().await.unwrap().unwrap();
        assert_eq!(saved.noise_key, device.noise_key);
        assert!(saved.is_registered());
    });
}

#[test]
fn logout_unlinks_then_wipes_the_device() {
    bounded(async {
        let server = LoopbackServer::builder().start().unwrap();
        let (store, device) = store_with_linked_device(11).await;
        let client = builder(&server, store.clone()).start().await.unwrap();
        let mut watch = Watch::new(&client);
        watch.logged_in().await;
        client.logout().await.unwrap();
        let rest = watch.rest().await;
        assert!(
            matches!(
                &rest[..],
                [
                    Event::LoggedOut { reason: None },
                    Event::Disconnected {
                        reason: DisconnectReason::Closed,
                        reconnect: false
                    },
                    Event::Stopped(StopReason::LoggedOut)
                ]
            ),
            "{rest:#?}"
        );
        // The server was asked to remove this very device.
        let record = &server.records()[0];
        let remove = record
            .received
            .iter()
            .find_map(|n| n.child("remove-companion-device").map(|c| (n, c)))
            .expect("a remove-companion-device request");
        assert_eq!(remove.0.attr_str("xmlns"), Some("md"));
        assert_eq!(remove.0.attr_str("type"), Some("set"));
        assert_eq!(
            remove.1.attr("jid").and_then(|v| v.to_jid().ok()),
            device.pn
        );
        assert_eq!(remove.1.attr_str("reason"), Some("user_initiated"));
        assert_wiped(&*store, &device).await;
        assert_eq!(server.connections(), 1);
    });
}

#[test]
fn a_refused_logout_keeps_the_device_and_the_connection() {
    bounded(async {
        let server = LoopbackServer::builder()
            .on_connection(|_, server, _| {
                server.set_iq_handler(|iq| match iq.attr_str("xmlns") {
                    Some("md") => IqReply::Error {
                        code: 500,
                        text: "internal-server-error".into(),
                    },
                    _ => IqReply::Result(Vec::new()),
                })
            })
            .start()
            .unwrap();
        let (store, device) = store_with_linked_device(12).await;
        let client = builder(&server, store.clone()).start().await.unwrap();
        let mut watch = Watch::new(&client);
        watch.logged_in().await;
        match client.logout().await {
            Err(RequestError::Iq(IqError::Server(error))) => assert_eq!(error.code, Some(500)),
            other => panic!("expected the server's refusal, got {other:?}"),
        }
        let iq = Node::new("iq")
            .with_attr("xmlns", "w")
            .with_attr("type", "get");
        client.send_iq(iq).await.unwrap();
        let saved = store.load().await.unwrap().unwrap();
        assert_eq!(saved.noise_key, device.noise_key);
        assert!(saved.is_registered());
        client.disconnect().await;
        assert_eq!(watch.count(|e| matches!(e, Event::LoggedOut { .. })), 0);
    });
}

#[test]
fn a_device_removed_by_the_server_is_wiped() {
    bounded(async {
        let server = LoopbackServer::builder().start().unwrap();
        let (store, device) = store_with_linked_device(13).await;
        let client = builder(&server, store.clone()).start().await.unwrap();
        let mut watch = Watch::new(&client);
        watch.logged_in().await;
        server.control(Control::StreamError {
            code: Some("401".into()),
            child: Some(Node::new("conflict").with_attr("type", "device_removed")),
        });
        let rest = watch.rest().await;
        assert!(
            matches!(
                &rest[..],
                [
                    Event::Disconnected {
                        reason: DisconnectReason::StreamError(StreamError::DeviceRemoved),
                        reconnect: false
                    },
                    Event::LoggedOut { reason: Some(_) },
                    Event::Stopped(StopReason::LoggedOut)
                ]
            ),
            "{rest:#?}"
        );
        assert_wiped(&*store, &device).await;
        assert_eq!(server.connections(), 1);
    });
}

#[test]
fn a_login_failure_401_is_a_logout_and_405_a_refusal() {
    bounded(async {
        for (reason, logged_out) in [("401", true), ("405", false)] {
            let server = LoopbackServer::builder()
                .on_connection(move |_, server, _| {
                    server.set_login_reply(LoginReply::Failure {
                        reason: reason.to_owned(),
                    })
                })
                .start()
                .unwrap();
            let (store, device) = store_with_linked_device(14).await;
            let client = builder(&server, store.clone()).start().await.unwrap();
            let mut watch = Watch::new(&client);
            let rest = watch.rest().await;
            let stopped = rest.last().expect("events");
            if logged_out {
                assert!(
                    matches!(stopped, Event::Stopped(StopReason::LoggedOut)),
                    "{rest:#?}"
                );
                assert_wiped(&*store, &device).await;
            } else {
                match stopped {
                    Event::Stopped(StopReason::Refused(DisconnectReason::LoginFailed(f))) => {
                        assert_eq!(f.reason, FailureReason::ClientOutdated)
                    }
                    other => panic!("expected a refusal, got {other:?}"),
                }
                let saved = store.load().await.unwrap().unwrap();
                assert_eq!(saved.noise_key, device.noise_key);
            }
            assert_eq!(server.connections(), 1, "{reason}: no reconnect");
            assert_eq!(watch.count(|e| matches!(e, Event::LoggedIn { .. })), 0);
        }
    });
}

#[test]
fn stream_end_and_503_reconnect() {
    bounded(async {
        let server = LoopbackServer::builder().start().unwrap();
        let (store, _) = store_with_linked_device(15).await;
        let (builder, time) = virtual_builder(&server, store);
        let client = builder.start().await.unwrap();
        let mut watch = Watch::on_virtual_time(&client, &time);
        watch.logged_in().await;
        server.control(Control::StreamEnd);
        watch.logged_in().await;
        server.control(Control::StreamError {
            code: Some("503".into()),
            child: None,
        });
        watch.logged_in().await;
        assert_eq!(server.connections(), 3);
        client.disconnect().await;
        assert_eq!(
            watch.count(|e| matches!(
                e,
                Event::Disconnected {
                    reconnect: true,
                    ..
                }
            )),
            2,
            "{:#?}",
            watch.seen
        );
    });
}

#[test]
fn disconnect_releases_the_store_file() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wa.redb");
        let device = wa_core::testing::registered_device(16);
        {
            let store = wa_store_redb::RedbStore::open(&path).unwrap();
            store.save(&device).await.unwrap();
        }
        let server = LoopbackServer::builder().start().unwrap();
        let store = Arc::new(wa_store_redb::RedbStore::open(&path).unwrap());
        let client = builder(&server, store).start().await.unwrap();
        let mut watch = Watch::new(&client);
        watch.logged_in().await;
        client.disconnect().await;
        // The driver held the last store handle; it is closed now.
        let reopened = wa_store_redb::RedbStore::open(&path).expect("store file released");
        let saved = reopened.load().await.unwrap().unwrap();
        assert_eq!(saved.login_counter, device.login_counter + 1);
    });
}

#[test]
fn dropping_the_last_handle_stops_the_client() {
    bounded(async {
        let server = LoopbackServer::builder().start().unwrap();
        let (store, _) = store_with_linked_device(17).await;
        let client = builder(&server, store).start().await.unwrap();
        let mut watch = Watch::new(&client);
        watch.logged_in().await;
        drop(client);
        let rest = watch.rest().await;
        assert!(
            matches!(
                &rest[..],
                [
                    Event::Disconnected {
                        reason: DisconnectReason::Closed,
                        reconnect: false
                    },
                    Event::Stopped(StopReason::ClientDropped)
                ]
            ),
            "{rest:#?}"
        );
        eventually(|| server.records()[0].ended).await;
    });
}

#[test]
fn an_empty_store_gets_a_fresh_identity() {
    bounded(async {
        let server = LoopbackServer::builder().start().unwrap();
        let store = Arc::new(wa_core::store::MemoryStore::new());
        let client = builder(&server, store.clone()).start().await.unwrap();
        let saved = store.load().await.unwrap().expect("saved at start");
        assert!(!saved.is_registered());
        assert_eq!(saved.verify_signed_pre_key(), Ok(()));
        // A registration connection: the server offers QR refs.
        let mut watch = Watch::new(&client);
        watch.until(|e| matches!(e, Event::Qr { .. })).await;
        assert_eq!(server.records()[0].registration, Some(true));
        // Two starts on two empty stores never share keys.
        let other = Arc::new(wa_core::store::MemoryStore::new());
        let client2 = builder(&server, other.clone()).start().await.unwrap();
        let saved2 = other.load().await.unwrap().unwrap();
        assert_ne!(saved.noise_key, saved2.noise_key);
        client.disconnect().await;
        client2.disconnect().await;
    });
}

#[test]
fn a_logout_answered_by_device_removed_succeeds_and_wipes() {
    bounded(async {
        // Some servers answer the removal by ending the stream instead of
        // with an IQ result.
        let server = LoopbackServer::builder()
            .on_connection(|_, server, _| {
                server.set_iq_handler(|iq| match iq.attr_str("xmlns") {
                    Some("md") => IqReply::Ignore,
                    _ => IqReply::Result(Vec::new()),
                })
            })
            .start()
            .unwrap();
        let (store, device) = store_with_linked_device(18).await;
        let client = builder(&server, store.clone()).start().await.unwrap();
        let mut watch = Watch::new(&client);
        watch.logged_in().await;
        let logout = {
            let client = client.clone();
            smol::spawn(async move { client.logout().await })
        };
        eventually(|| {
            server.records()[0]
                .received
                .iter()
                .any(|n| n.child("remove-companion-device").is_some())
        })
        .await;
        server.control(Control::StreamError {
            code: Some("401".into()),
            child: Some(Node::new("conflict").with_attr("type", "device_removed")),
        });
        logout.await.unwrap();
        assert!(matches!(
            watch.rest().await.last(),
            Some(Event::Stopped(StopReason::LoggedOut))
        ));
        assert_wiped(&*store, &device).await;
    });
}

#[test]
fn a_logout_cut_off_by_a_dropped_connection_fails_and_keeps_the_device() {
    bounded(async {
        let server = LoopbackServer::builder()
            .on_connection(|_, server, _| {
                server.set_iq_handler(|iq| match iq.attr_str("xmlns") {
                    Some("md") => IqReply::Ignore,
                    _ => IqReply::Result(Vec::new()),
                })
            })
            .start()
            .unwrap();
        let (store, device) = store_with_linked_device(19).await;
        let client = builder(&server, store.clone()).start().await.unwrap();
        let mut watch = Watch::new(&client);
        watch.logged_in().await;
        let logout = {
            let client = client.clone();
            smol::spawn(async move { client.logout().await })
        };
        eventually(|| {
            server.records()[0]
                .received
                .iter()
                .any(|n| n.child("remove-companion-device").is_some())
        })
        .await;
        server.control(Control::Cut);
        assert!(matches!(
            logout.await,
            Err(RequestError::Iq(IqError::Disconnected))
        ));
        // Not logged out: the client reconnects with the same device.
        watch.logged_in().await;
        let saved = store.load().await.unwrap().unwrap();
        assert_eq!(saved.noise_key, device.noise_key);
        client.disconnect().await;
    });
}
