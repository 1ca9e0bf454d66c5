//! The client against the bundled test server on a real loopback socket:
//! login, keepalive, IQs, a dead server, requests while disconnected.

mod client_support;

use std::sync::Arc;
use std::time::Duration;

use client_support::*;
use wa_core::binary::Node;
use wa_core::connection::{DisconnectReason, IqError};
use wa_core::store::DeviceStore;
use wa_core::testing::IqReply;
use wa_io_smol::client::{Client, Event, ReconnectPolicy, RequestError, StopReason};
use wa_io_smol::clock::VirtualTime;
use wa_io_smol::testserver::{Control, LoopbackServer};

fn ping_iq() -> Node {
    Node::new("iq")
        .with_attr("xmlns", "w")
        .with_attr("type", "get")
}

#[test]
fn login_then_keepalive_then_iq_then_disconnect() {
    bounded(async {
        let server = LoopbackServer::builder().start().unwrap();
        let (store, device) = store_with_linked_device(3).await;
        // Keepalive with its real timings, on virtual time.
        let (builder, time) = virtual_builder(&server, store.clone());
        let client = builder.start().await.unwrap();
        let mut watch = Watch::on_virtual_time(&client, &time);
        let Event::LoggedIn {
            jid,
            lid,
            server_time,
        } = watch.logged_in().await
        else {
            unreachable!()
        };
        assert_eq!(jid, device.pn);
        assert_eq!(server_time, Some(server.unix_time()));
        let lid = lid.expect("the test server sends a lid").to_string();

        // Several keepalive rounds over the socket, with the connection up.
        // (Half-second steps: a pong held up by a loaded machine has forty
        // of them before the 20 s keepalive deadline.)
        advance_until(&time, Duration::from_millis(500), || {
            server.records()[0].pings_answered >= 3
        })
        .await;
        assert_eq!(server.connections(), 1);

        let answer = client.send_iq(ping_iq()).await.unwrap();
        assert_eq!(answer.attr_str("type"), Some("result"));
        client
            .send_node(Node::new("presence").with_attr("type", "available"))
            .await
            .unwrap();
        eventually(|| {
            server.records()[0]
                .received
                .iter()
                .any(|n| n.tag == "presence")
        })
        .await;

        client.disconnect().await;
        assert!(client.is_stopped());
        let rest = watch.rest().await;
        assert!(
            matches!(rest.last(), Some(Event::Stopped(StopReason::Disconnected))),
            "{rest:#?}"
        );
        assert_eq!(
            watch.count(|e| matches!(e, Event::Disconnected { .. })),
            1,
            "{:#?}",
            watch.seen
        );
        assert_eq!(
            watch.count(|e| matches!(
                e,
                Event::Disconnected {
                    reconnect: true,
                    ..
                }
            )),
            0
        );
        // After the disconnect, requests fail at once.
        assert!(matches!(
            client.send_iq(ping_iq()).await,
            Err(RequestError::Stopped)
        ));

        // The login was recorded in the device: counter bumped, LID kept.
        let saved = store.load().await.unwrap().unwrap();
        assert_eq!(saved.login_counter, device.login_counter + 1);
        assert_eq!(
            saved.lid.as_ref().map(ToString::to_string).as_deref(),
            Some(lid.as_str())
        );
        assert_eq!(saved.noise_key, device.noise_key);
        // The login payload carried the stored phone number.
        let record = &server.records()[0];
        assert_eq!(record.registration, Some(false));
        assert_eq!(
            record.username.map(|u| u.to_string()),
            device.pn.as_ref().map(|pn| pn.user().to_owned())
        );
    });
}

#[test]
fn logs_in_over_wss_with_the_throwaway_ca() {
    bounded(async {
        let server = LoopbackServer::builder().tls(true).start().unwrap();
        assert!(server.url().starts_with("wss://127.0.0.1:"));
        let (store, _) = store_with_linked_device(4).await;
        let client = builder(&server, store).start().await.unwrap();
        let mut watch = Watch::new(&client);
        watch.logged_in().await;
        let answer = client.send_iq(ping_iq()).await.unwrap();
        assert_eq!(answer.attr_str("type"), Some("result"));
        client.disconnect().await;
    });
}

#[test]
fn iq_errors_and_timeouts_are_typed() {
    bounded(async {
        let server = LoopbackServer::builder()
            .on_connection(|_, server, _| {
                server.set_iq_handler(|iq| match iq.attr_str("xmlns") {
                    Some("lost") => IqReply::Ignore,
                    _ => IqReply::Error {
                        code: 404,
                        text: "item-not-found".into(),
                    },
                });
            })
            .start()
            .unwrap();
        let (store, _) = store_with_linked_device(5).await;
        // The request timeout runs on virtual time: nothing waits for it.
        let (builder, time) = virtual_builder(&server, store);
        let client = builder.start().await.unwrap();
        let mut watch = Watch::on_virtual_time(&client, &time);
        watch.logged_in().await;

        match client.send_iq(ping_iq()).await {
            Err(RequestError::Iq(IqError::Server(error))) => {
                assert_eq!(error.code, Some(404));
                assert_eq!(error.text, "item-not-found");
            }
            other => panic!("expected a server error, got {other:?}"),
        }
        let lost = Node::new("iq")
            .with_attr("xmlns", "lost")
            .with_attr("type", "get");
        let request = {
            let client = client.clone();
            smol::spawn(async move {
                client
                    .send_iq_with_timeout(lost, Duration::from_secs(75))
                    .await
            })
        };
        // Once the server holds the request, its deadline is set: pass it.
        eventually(|| {
            server.records()[0]
                .received
                .iter()
                .any(|n| n.attr_str("xmlns") == Some("lost"))
        })
        .await;
        time.advance(Duration::from_secs(75));
        assert!(matches!(
            request.await,
            Err(RequestError::Iq(IqError::Timeout))
        ));
        // Not an iq: refused by the connection, nothing sent.
        assert!(matches!(
            client.send_iq(Node::new("message")).await,
            Err(RequestError::Send(_))
        ));
        // The connection survived all of it.
        assert_eq!(server.connections(), 1);
        client.disconnect().await;
    });
}

#[test]
fn a_server_that_stops_answering_pings_is_detected_and_replaced() {
    bounded(async {
        let server = LoopbackServer::builder().start().unwrap();
        let (store, _) = store_with_linked_device(6).await;
        // The default keepalive timings, on virtual time.
        let (builder, time) = virtual_builder(&server, store);
        let client = builder.start().await.unwrap();
        let mut watch = Watch::on_virtual_time(&client, &time);
        watch.logged_in().await;
        assert_eq!(server.control(Control::AnswerPings(false)), 1);
        let disconnected = watch
            .until_advancing(Duration::from_secs(1), |e| {
                matches!(e, Event::Disconnected { .. })
            })
            .await;
        assert!(
            matches!(
                disconnected,
                Event::Disconnected {
                    reason: DisconnectReason::KeepAliveTimeout,
                    reconnect: true
                }
            ),
            "{disconnected:?}"
        );
        watch
            .until(|e| matches!(e, Event::Reconnecting { .. }))
            .await;
        watch.logged_in().await;
        assert_eq!(server.connections(), 2);
        client.disconnect().await;
    });
}

#[test]
fn requests_fail_at_once_while_the_server_is_unreachable_and_the_client_gives_up() {
    bounded(async {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let factory = wa_io_smol::transport::WebSocketTransportFactory::new()
            .with_url(format!("ws://127.0.0.1:{port}/ws/chat"));
        let (store, _) = store_with_linked_device(7).await;
        // The backoff runs on virtual time: the test moves it, nothing sleeps.
        let time = Arc::new(VirtualTime::new());
        let client = Client::builder()
            .backend(store)
            .transport_factory(Arc::new(factory))
            .web_version_policy(None)
            .runtime(time.clone())
            .clock(time.clone())
            .reconnect_policy(
                ReconnectPolicy::new()
                    .with_initial_delay(Duration::from_secs(30))
                    .with_max_delay(Duration::from_secs(30))
                    .with_max_attempts(Some(3)),
            )
            .start()
            .await
            .unwrap();
        let mut watch = Watch::new(&client);
        let failed = watch
            .until(|e| matches!(e, Event::ConnectFailed { .. }))
            .await;
        let Event::ConnectFailed { error } = failed else {
            unreachable!()
        };
        assert!(error.contains("tcp connect to 127.0.0.1"), "{error}");
        // Between attempts nothing is connected: requests do not wait.
        assert!(matches!(
            client.send_iq(ping_iq()).await,
            Err(RequestError::NotConnected)
        ));
        assert!(matches!(
            client.logout().await,
            Err(RequestError::NotConnected)
        ));
        // Two backoffs, each announced within its bounds (jitter keeps it in
        // the upper half of the step) and then passed on virtual time.
        for _ in 0..2 {
            let Event::Reconnecting { after, .. } = watch
                .until(|e| matches!(e, Event::Reconnecting { .. }))
                .await
            else {
                unreachable!()
            };
            assert!(
                after >= Duration::from_secs(15) && after <= Duration::from_secs(30),
                "{after:?}"
            );
            time.advance(after);
        }
        let rest = watch.rest().await;
        match rest.last() {
            Some(Event::Stopped(StopReason::GaveUp {
                attempts,
                last_error,
            })) => {
                assert_eq!(*attempts, 3);
                assert!(last_error.contains("tcp connect"), "{last_error}");
            }
            other => panic!("expected GaveUp, got {other:?}"),
        }
        assert_eq!(
            watch.count(|e| matches!(e, Event::Connecting { .. })),
            3,
            "{:#?}",
            watch.seen
        );
        assert_eq!(
            watch.count(|e| matches!(e, Event::Reconnecting { .. })),
            2,
            "{:#?}",
            watch.seen
        );
        assert!(client.is_stopped());
    });
}

#[test]
fn edge_routing_info_is_saved_and_sent_on_the_next_connect() {
    bounded(async {
        let server = LoopbackServer::builder().start().unwrap();
        let (store, _) = store_with_linked_device(8).await;
        let client = builder(&server, store.clone()).start().await.unwrap();
        let mut watch = Watch::new(&client);
        watch.logged_in().await;
        assert_eq!(server.records()[0].edge_routing, None);
        let routing = b"\x08\x02\x08\x05".to_vec();
        server.control(Control::Send(
            Node::new("ib").with_children([Node::new("edge_routing")
                .with_children([Node::new("routing_info").with_bytes(routing.clone())])]),
        ));
        watch
            .until(|e| matches!(e, Event::Stanza(n) if n.tag == "ib"))
            .await;
        server.control(Control::StreamEnd);
        watch.logged_in().await;
        assert_eq!(
            server.records()[1].edge_routing.as_deref(),
            Some(&routing[..])
        );
        let saved = store.load().await.unwrap().unwrap();
        assert_eq!(saved.edge_routing_info.as_deref(), Some(&routing[..]));
        client.disconnect().await;
    });
}
