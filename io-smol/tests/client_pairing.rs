//! Linking over a real loopback socket with the simulated phone: QR scan →
//! pair-success → device saved → 515 → login; restart from the store file
//! → login without a QR → keepalive; a bad pair-success saves nothing; a
//! cut during pairing recovers; phone-number linking.

mod client_support;

use std::sync::Arc;

use client_support::*;
use wa_core::binary::Node;
use wa_core::connection::{DisconnectReason, StreamError};
use wa_core::store::DeviceStore;
use wa_core::testing::PairSuccessVariant;
use wa_io_smol::client::{Event, StopReason};
use wa_io_smol::testserver::{Control, Faults, LoopbackServer};
use wa_store_redb::RedbStore;

async fn next_qr(watch: &mut Watch) -> String {
    match watch.until(|e| matches!(e, Event::Qr { .. })).await {
        Event::Qr { code, expires_at } => {
            assert!(expires_at > std::time::Instant::now());
            code.into_string()
        }
        _ => unreachable!(),
    }
}

#[test]
fn pairing_then_restart_then_login_then_keepalive() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wa.redb");
        let server = LoopbackServer::builder().tls(true).start().unwrap();
        let phone_jid = server.phone_companion_jid();

        // First run: a fresh identity, QR, scan, saved, restart, login.
        let store = Arc::new(RedbStore::open(&path).unwrap());
        let client = builder(&server, store.clone()).start().await.unwrap();
        let mut watch = Watch::new(&client);
        let qr = next_qr(&mut watch).await;
        assert_eq!(server.scan_qr(&qr), 1);
        let paired = watch.until(|e| matches!(e, Event::Paired { .. })).await;
        let Event::Paired { jid, .. } = &paired else {
            unreachable!()
        };
        assert_eq!(
            jid.as_ref().map(ToString::to_string),
            Some(phone_jid.clone())
        );
        // Saved before the reconnect: the store already has the linked device.
        let saved = store.load().await.unwrap().unwrap();
        assert_eq!(
            saved.pn.as_ref().map(ToString::to_string).as_deref(),
            Some(phone_jid.as_str())
        );
        assert!(saved.account.is_some());
        let restart = watch
            .until(|e| matches!(e, Event::Disconnected { .. }))
            .await;
        assert!(
            matches!(
                restart,
                Event::Disconnected {
                    reason: DisconnectReason::StreamError(StreamError::RestartRequired),
                    reconnect: true
                }
            ),
            "{restart:?}"
        );
        let Event::LoggedIn { jid, .. } = watch.logged_in().await else {
            unreachable!()
        };
        assert_eq!(
            jid.as_ref().map(ToString::to_string),
            Some(phone_jid.clone())
        );
        // The restart was immediate: no backoff announced.
        assert_eq!(watch.count(|e| matches!(e, Event::Reconnecting { .. })), 0);
        let records = server.records();
        assert_eq!(records[0].registration, Some(true));
        assert_eq!(records[0].pairing, Some(Ok(())));
        assert_eq!(records[1].registration, Some(false));
        let phone_number: u64 = phone_jid.split(':').next().unwrap().parse().unwrap();
        assert_eq!(records[1].username, Some(phone_number));
        client.disconnect().await;
        drop(store);

        // Second run from the same file: login at once, no QR.
        let store = Arc::new(RedbStore::open(&path).unwrap());
        let client = builder(&server, store.clone())
            .config(fast_keepalive(&server))
            .start()
            .await
            .unwrap();
        let mut watch = Watch::new(&client);
        watch.logged_in().await;
        assert_eq!(watch.count(|e| matches!(e, Event::Qr { .. })), 0);
        eventually(|| server.records()[2].pings_answered >= 2).await;
        let iq = Node::new("iq")
            .with_attr("xmlns", "w")
            .with_attr("type", "get");
        client.send_iq(iq).await.unwrap();
        client.disconnect().await;
        let device = store.load().await.unwrap().unwrap();
        assert_eq!(
            device.pn.as_ref().map(ToString::to_string).as_deref(),
            Some(phone_jid.as_str())
        );
        assert_eq!(device.noise_key, saved.noise_key);
        assert_eq!(device.login_counter, saved.login_counter + 2);
    });
}

#[test]
fn a_bad_pair_success_is_refused_and_saves_nothing() {
    bounded(async {
        let server = LoopbackServer::builder().start().unwrap();
        let store = Arc::new(wa_core::store::MemoryStore::new());
        let client = builder(&server, store.clone()).start().await.unwrap();
        let fresh = store.load().await.unwrap().unwrap();
        let mut watch = Watch::new(&client);
        let qr = next_qr(&mut watch).await;
        server.control(Control::ScanQr {
            code: qr.clone(),
            variant: PairSuccessVariant::BadHmac,
        });
        watch
            .until(|e| matches!(e, Event::PairingFailed { .. }))
            .await;
        eventually(|| server.records()[0].pairing.is_some()).await;
        assert!(matches!(server.records()[0].pairing, Some(Err(_))));
        let stored = store.load().await.unwrap().unwrap();
        assert!(!stored.is_registered());
        assert_eq!(stored.noise_key, fresh.noise_key);
        // The connection stayed up: a good scan still links.
        server.scan_qr(&qr);
        watch.logged_in().await;
        assert!(store.load().await.unwrap().unwrap().is_registered());
        assert_eq!(watch.count(|e| matches!(e, Event::Paired { .. })), 1);
        client.disconnect().await;
    });
}

/// The frame sizes of a clean pairing: `(server frames, client messages)`.
fn measure_clean_pairing() -> (Vec<usize>, Vec<usize>) {
    bounded(async {
        let server = LoopbackServer::builder().start().unwrap();
        let store = Arc::new(wa_core::store::MemoryStore::new());
        let client = builder(&server, store).start().await.unwrap();
        let mut watch = Watch::new(&client);
        let qr = next_qr(&mut watch).await;
        server.scan_qr(&qr);
        watch.logged_in().await;
        client.disconnect().await;
        let record = server.records().remove(0);
        (record.sent_frames, record.received_messages)
    })
}

#[test]
fn a_cut_in_the_middle_of_the_pair_success_recovers() {
    let (frames, _) = measure_clean_pairing();
    // ServerHello, pair-device, pair-success, 515.
    assert_eq!(frames.len(), 4, "{frames:?}");
    let mid_pair_success = frames[0] + frames[1] + frames[2] / 2;

    bounded(async move {
        let server = LoopbackServer::builder()
            .on_connection(move |index, _, faults: &mut Faults| {
                if index == 0 {
                    faults.cut_after_server_bytes = Some(mid_pair_success);
                }
            })
            .start()
            .unwrap();
        let store = Arc::new(wa_core::store::MemoryStore::new());
        let (builder, time) = virtual_builder(&server, store.clone());
        let client = builder.start().await.unwrap();
        let mut watch = Watch::on_virtual_time(&client, &time);
        let qr = next_qr(&mut watch).await;
        server.scan_qr(&qr);
        watch
            .until(|e| {
                matches!(
                    e,
                    Event::Disconnected {
                        reconnect: true,
                        ..
                    }
                )
            })
            .await;
        // Not linked: the pair-success never arrived whole.
        assert!(!store.load().await.unwrap().unwrap().is_registered());
        assert_eq!(watch.count(|e| matches!(e, Event::Paired { .. })), 0);
        // A new registration connection, a new scan, linked.
        let qr = next_qr(&mut watch).await;
        server.scan_qr(&qr);
        watch.logged_in().await;
        assert!(store.load().await.unwrap().unwrap().is_registered());
        assert_eq!(server.records()[1].pairing, Some(Ok(())));
        client.disconnect().await;
    });
}

#[test]
fn a_cut_after_the_link_reply_but_before_the_restart_logs_in_with_the_saved_device() {
    let (_, messages) = measure_clean_pairing();
    // Header + ClientHello, ClientFinish, pair-device ack, pair-device-sign.
    assert!(messages.len() >= 4, "{messages:?}");
    let through_sign: usize = messages[..4].iter().sum();

    bounded(async move {
        // The server reads the client's link reply, then the connection dies
        // before the 515 goes out.
        let server = LoopbackServer::builder()
            .on_connection(move |index, _, faults: &mut Faults| {
                if index == 0 {
                    faults.cut_after_client_bytes = Some(through_sign);
                }
            })
            .start()
            .unwrap();
        let store = Arc::new(wa_core::store::MemoryStore::new());
        let (builder, time) = virtual_builder(&server, store.clone());
        let client = builder.start().await.unwrap();
        let mut watch = Watch::on_virtual_time(&client, &time);
        let qr = next_qr(&mut watch).await;
        server.scan_qr(&qr);
        watch.until(|e| matches!(e, Event::Paired { .. })).await;
        let cut = watch
            .until(|e| matches!(e, Event::Disconnected { .. }))
            .await;
        assert!(
            matches!(
                cut,
                Event::Disconnected {
                    reason: DisconnectReason::TransportClosed,
                    reconnect: true
                }
            ),
            "{cut:?}"
        );
        assert_eq!(server.records()[0].pairing, Some(Ok(())));
        watch.logged_in().await;
        assert_eq!(server.records()[1].registration, Some(false));
        assert!(store.load().await.unwrap().unwrap().is_registered());
        client.disconnect().await;
    });
}

#[test]
fn link_with_a_pair_code() {
    bounded(async {
        let server = LoopbackServer::builder().start().unwrap();
        let store = Arc::new(wa_core::store::MemoryStore::new());
        let client = builder(&server, store.clone()).start().await.unwrap();
        let mut watch = Watch::new(&client);
        next_qr(&mut watch).await;
        client
            .request_pair_code("+1 555 000 1234", true)
            .await
            .unwrap();
        let Event::PairCode { code, .. } =
            watch.until(|e| matches!(e, Event::PairCode { .. })).await
        else {
            unreachable!()
        };
        assert_eq!(code.len(), 8);
        server.control(Control::EnterPairCode(code));
        watch.until(|e| matches!(e, Event::Paired { .. })).await;
        watch.logged_in().await;
        assert_eq!(server.records()[0].pairing, Some(Ok(())));
        assert!(store.load().await.unwrap().unwrap().is_registered());
        client.disconnect().await;
        assert!(matches!(
            watch.rest().await.last(),
            Some(Event::Stopped(StopReason::Disconnected))
        ));
    });
}
