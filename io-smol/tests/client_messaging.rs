//! 1:1 messaging through the bundled test server on real loopback sockets:
//! two accounts (each a `Client` over its own store) and a simulated contact
//! exchange messages; receipts, the inbox across restarts, an offline backlog.

mod client_support;

use std::sync::Arc;

use client_support::*;
use wa_core::binary::Jid;
use wa_core::messaging::ReceivedMessage;
use wa_core::store::{MemoryStore, ProtocolStore};
use wa_core::testing::network::Party;
use wa_io_smol::client::{Client, Event};
use wa_io_smol::testserver::LoopbackServer;

/// The account (user JID) of `registered_device(seed)`.
fn account(seed: u8) -> Jid {
    Jid::pn(&format!("1555000{seed:04}"))
}

/// Starts a client on `store` and waits until its first login is complete
/// (prekeys uploaded, offline queue delivered).
async fn online(server: &LoopbackServer, store: Arc<MemoryStore>) -> (Client, Watch) {
    let client = builder(server, store).start().await.unwrap();
    let mut watch = Watch::new(&client);
    watch
        .until(|e| matches!(e, Event::OfflineSynced { .. }))
        .await;
    (client, watch)
}

/// A server with a simulated contact (`15550009999`) and a client of
/// account 1 online on it.
async fn with_contact() -> (LoopbackServer, Party, Arc<MemoryStore>, Client, Watch) {
    let server = LoopbackServer::builder().start().unwrap();
    let contact = server.with_network(|net| Party::join(net, "15550009999", 0, 9));
    let (store, _) = store_with_linked_device(1).await;
    let (client, watch) = online(&server, store.clone()).await;
    (server, contact, store, client, watch)
}

/// The next message, while the simulated contact keeps handling what
/// reaches it (retry receipts); every event is kept in `watch.seen`.
async fn next_message_while_contact_answers(
    server: &LoopbackServer,
    contact: &mut Party,
    watch: &mut Watch,
) -> ReceivedMessage {
    use futures_lite::future::or;
    use std::time::Duration;
    loop {
        server.with_network(|net| contact.receive_all(net));
        let next = or(async { Some(watch.events.recv().await) }, async {
            smol::Timer::after(Duration::from_millis(10)).await;
            None
        })
        .await;
        match next {
            Some(Ok(event)) => {
                watch.seen.push(event.clone());
                if let Event::Message(m) = event {
                    return *m;
                }
            }
            Some(Err(_)) => panic!("event stream ended"),
            None => {}
        }
    }
}

/// A server where account 1 registered once and went offline, and the
/// simulated contact then sent it `n` texts `{prefix}0`, `{prefix}1`, …
async fn offline_backlog(n: usize, prefix: &str) -> (LoopbackServer, Arc<MemoryStore>) {
    let server = LoopbackServer::builder().start().unwrap();
    let mut contact = server.with_network(|net| Party::join(net, "15550009999", 0, 9));
    let (store, _) = store_with_linked_device(1).await;
    let (client, _) = online(&server, store.clone()).await;
    client.disconnect().await;
    server.with_network(|net| {
        for i in 0..n {
            contact.send_text(net, &account(1), &format!("{prefix}{i}"));
        }
    });
    (server, store)
}

/// Reads `n` messages `{prefix}0`, `{prefix}1`, … in order, acknowledging
/// each before reading the next event (from the task that reads them).
async fn receive_in_order_acking_each(client: &Client, n: usize, prefix: &str) {
    let events = client.events();
    let mut got = 0;
    while got < n {
        if let Event::Message(m) = events.recv().await.unwrap() {
            assert_eq!(
                m.message.text_content(),
                Some(format!("{prefix}{got}").as_str())
            );
            client.ack_message(&m).await.unwrap();
            got += 1;
        }
    }
}

/// Starts a client on `store` again and checks that no message is delivered
/// before the offline queue is done (nothing was left unacknowledged).
async fn nothing_comes_again(server: &LoopbackServer, store: Arc<MemoryStore>) {
    let client = builder(server, store).start().await.unwrap();
    let mut watch = Watch::new(&client);
    watch
        .until(|e| matches!(e, Event::OfflineSynced { .. }))
        .await;
    client.disconnect().await;
    watch.rest().await;
    assert_eq!(watch.count(|e| matches!(e, Event::Message(_))), 0);
}

async fn next_message(watch: &mut Watch) -> ReceivedMessage {
    match watch.until(|e| matches!(e, Event::Message(_))).await {
        Event::Message(m) => *m,
        _ => unreachable!(),
    }
}

#[test]
fn two_accounts_exchange_texts_with_receipts() {
    bounded(async {
        let server = LoopbackServer::builder().start().unwrap();
        let (store_a, _) = store_with_linked_device(1).await;
        let (store_b, _) = store_with_linked_device(2).await;
        let (alice, mut watch_a) = online(&server, store_a.clone()).await;
        let (bob, mut watch_b) = online(&server, store_b.clone()).await;

        let id = alice.send_text(&account(2), "hello Bob").await.unwrap();
        let got = next_message(&mut watch_b).await;
        assert_eq!(got.id, id);
        assert_eq!(got.message.text_content(), Some("hello Bob"));
        assert_eq!(got.chat, account(1));
        assert_eq!(got.sender.user(), account(1).user());
        assert!(!got.from_me);
        // Kept in Bob's inbox until his application acknowledges it.
        assert_eq!(store_b.list_inbox(10).await.unwrap().len(), 1);
        bob.ack_message(&got).await.unwrap();
        assert!(store_b.list_inbox(10).await.unwrap().is_empty());

        // Bob's device sent a delivery receipt for it.
        let receipt = watch_a
            .until(|e| matches!(e, Event::Receipt(r) if r.ids.contains(&id)))
            .await;
        let Event::Receipt(receipt) = receipt else {
            unreachable!()
        };
        assert_eq!(receipt.kind, None);
        assert_eq!(receipt.from.user(), account(2).user());

        // Bob reads it: Alice sees a read receipt.
        bob.mark_read(&[&got]).await.unwrap();
        let read = watch_a
            .until(|e| matches!(e, Event::Receipt(r) if r.kind.as_deref() == Some("read")))
            .await;
        let Event::Receipt(read) = read else {
            unreachable!()
        };
        assert_eq!(read.ids, std::slice::from_ref(&id));

        // And back, on the session Bob's side now has, quoting Alice.
        let reply = bob
            .send_message(&account(1), got.reply("hi Alice"))
            .await
            .unwrap();
        let got = next_message(&mut watch_a).await;
        assert_eq!(
            (got.id.as_str(), got.message.text_content()),
            (reply.as_str(), Some("hi Alice"))
        );
        let (quoted_id, quoted_sender, quoted) = got.quoted().expect("a quote");
        assert_eq!(quoted_id, id);
        assert_eq!(quoted_sender, Some("15550000001@s.whatsapp.net"));
        assert_eq!(quoted.and_then(|m| m.text_content()), Some("hello Bob"));
        alice.ack_message(&got).await.unwrap();
        assert_eq!(
            watch_a.count(|e| matches!(e, Event::Undecryptable { .. })),
            0
        );
        assert_eq!(
            watch_b.count(|e| matches!(e, Event::Undecryptable { .. })),
            0
        );
        alice.disconnect().await;
        bob.disconnect().await;
    });
}

#[test]
fn a_simulated_contact_and_a_client_talk_both_ways() {
    bounded(async {
        let (server, mut contact, _, client, mut watch) = with_contact().await;

        server.with_network(|net| contact.send_text(net, &account(1), "from the contact"));
        let got = next_message(&mut watch).await;
        assert_eq!(got.message.text_content(), Some("from the contact"));
        assert_eq!(got.chat, Jid::pn("15550009999"));
        client.ack_message(&got).await.unwrap();

        let id = client
            .send_text(&Jid::pn("15550009999"), "to the contact")
            .await
            .unwrap();
        let mut texts = Vec::new();
        eventually(|| {
            for event in server.with_network(|net| contact.receive_all(net)) {
                if let wa_core::messaging::MessagingEvent::Message(m) = event {
                    texts.push((m.id.clone(), m.message.text_content().map(str::to_owned)));
                }
            }
            !texts.is_empty()
        })
        .await;
        assert_eq!(texts, vec![(id, Some("to the contact".to_owned()))]);
        client.disconnect().await;
    });
}

#[test]
fn an_unacknowledged_message_comes_again_after_a_restart_and_once_only() {
    bounded(async {
        let (server, mut contact, store, client, mut watch) = with_contact().await;
        server.with_network(|net| contact.send_text(net, &account(1), "keep me"));
        let first = next_message(&mut watch).await;
        // The application crashes before it has the message safe.
        client.disconnect().await;

        let client = builder(&server, store.clone()).start().await.unwrap();
        let mut watch = Watch::new(&client);
        let again = next_message(&mut watch).await;
        assert_eq!(again.id, first.id);
        assert_eq!(again.message.text_content(), Some("keep me"));
        client.ack_message(&again).await.unwrap();
        watch
            .until(|e| matches!(e, Event::OfflineSynced { .. }))
            .await;
        client.disconnect().await;

        nothing_comes_again(&server, store).await;
    });
}

#[test]
fn a_backlog_sent_while_offline_arrives_once_and_in_order() {
    bounded(async {
        const N: usize = 200;
        let server = LoopbackServer::builder().start().unwrap();
        let (store_a, _) = store_with_linked_device(1).await;
        let (store_b, _) = store_with_linked_device(2).await;
        // Bob registers once, then goes offline.
        let (bob, _) = online(&server, store_b.clone()).await;
        bob.disconnect().await;
        let (alice, _) = online(&server, store_a).await;
        let mut sent = Vec::new();
        for i in 0..N {
            sent.push(
                alice
                    .send_text(&account(2), &format!("m{i}"))
                    .await
                    .unwrap(),
            );
        }

        let bob = builder(&server, store_b.clone()).start().await.unwrap();
        let mut watch = Watch::new(&bob);
        let synced = watch
            .until(|e| matches!(e, Event::OfflineSynced { .. }))
            .await;
        assert!(matches!(synced, Event::OfflineSynced { count: Some(n) } if n == N as u64));
        let got: Vec<ReceivedMessage> = watch
            .seen
            .iter()
            .filter_map(|e| match e {
                Event::Message(m) => Some((**m).clone()),
                _ => None,
            })
            .collect();
        let ids: Vec<&str> = got.iter().map(|m| m.id.as_str()).collect();
        let want: Vec<&str> = sent.iter().map(|id| id.as_str()).collect();
        assert_eq!(ids, want);
        for (i, m) in got.iter().enumerate() {
            assert_eq!(m.message.text_content(), Some(format!("m{i}").as_str()));
        }
        assert_eq!(store_b.list_inbox(usize::MAX).await.unwrap().len(), N);
        bob.disconnect().await;
        alice.disconnect().await;
    });
}

#[test]
fn a_lost_session_is_recovered_through_retry_receipts() {
    use wa_core::store::SignalStore;
    bounded(async {
        let (server, mut contact, store, client, mut watch) = with_contact().await;
        server.with_network(|net| contact.send_text(net, &account(1), "before"));
        let got = next_message(&mut watch).await;
        client.ack_message(&got).await.unwrap();
        client
            .send_text(&Jid::pn("15550009999"), "reply")
            .await
            .unwrap();
        eventually(|| {
            let events = server.with_network(|net| contact.receive_all(net));
            events
                .iter()
                .any(|e| matches!(e, wa_core::messaging::MessagingEvent::Message(_)))
        })
        .await;

        // The client loses its session with the contact: the contact's next
        // message cannot be decrypted; the retry receipts bring it again.
        let address = wa_core::message::SignalAddress::of(&contact.jid).to_string();
        store.delete_session(&address).await.unwrap();
        let id = server.with_network(|net| contact.send_text(net, &account(1), "after the loss"));
        let got = next_message_while_contact_answers(&server, &mut contact, &mut watch).await;
        // The first attempt and the plain retry fail; the retry with keys
        // rebuilds the session.
        let failed: Vec<_> = watch
            .seen
            .iter()
            .filter_map(|e| match e {
                Event::Undecryptable { id, .. } => Some(id.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(failed, [id.clone(), id.clone()]);
        assert_eq!(got.id, id);
        assert_eq!(got.message.text_content(), Some("after the loss"));
        client.disconnect().await;
    });
}

#[test]
fn the_client_answers_a_contacts_retry_receipts() {
    use wa_core::messaging::MessagingEvent;
    use wa_core::store::SignalStore;
    bounded(async {
        let (server, mut contact, _, client, mut watch) = with_contact().await;
        let contact_user = Jid::pn("15550009999");
        client.send_text(&contact_user, "first").await.unwrap();
        let mut contact_events = Vec::new();
        eventually(|| {
            contact_events.extend(server.with_network(|net| contact.receive_all(net)));
            contact_events
                .iter()
                .any(|e| matches!(e, MessagingEvent::Message(_)))
        })
        .await;
        server.with_network(|net| contact.send_text(net, &account(1), "ok"));
        let got = next_message(&mut watch).await;
        client.ack_message(&got).await.unwrap();

        // The contact loses its session with the client's device; the
        // client's next message comes again, re-encrypted, after the
        // contact's retry receipts.
        // (`registered_device(1)` is device 7 of its account.)
        let device = account(1).with_device(7);
        let address = wa_core::message::SignalAddress::of(&device).to_string();
        contact.store.delete_session(&address).await.unwrap();
        let id = client.send_text(&contact_user, "again").await.unwrap();
        let mut contact_events = Vec::new();
        eventually(|| {
            contact_events.extend(server.with_network(|net| contact.receive_all(net)));
            contact_events
                .iter()
                .any(|e| matches!(e, MessagingEvent::Message(m) if m.id == id))
        })
        .await;
        let failed = contact_events
            .iter()
            .filter(|e| matches!(e, MessagingEvent::Undecryptable { .. }))
            .count();
        assert_eq!(failed, 2, "{contact_events:?}");
        client.disconnect().await;
    });
}

#[test]
fn three_clients_and_a_contact_talk_in_a_group() {
    use wa_core::messaging::MessagingEvent;
    bounded(async {
        let server = LoopbackServer::builder().start().unwrap();
        let group: Jid = "120363000000000001@g.us".parse().unwrap();
        let mut contact = server.with_network(|net| Party::join(net, "15550009999", 0, 9));
        let mut clients = Vec::new();
        for seed in 1..=3 {
            let (store, _) = store_with_linked_device(seed).await;
            clients.push(online(&server, store).await);
        }
        server.with_network(|net| {
            net.set_group(
                &group,
                &[account(1), account(2), account(3), Jid::pn("15550009999")],
            )
        });

        let id = clients[0].0.send_text(&group, "hello group").await.unwrap();
        for (client, watch) in clients.iter_mut().skip(1) {
            let got = next_message(watch).await;
            assert_eq!(
                (got.id.as_str(), got.chat.clone()),
                (id.as_str(), group.clone())
            );
            assert_eq!(got.message.text_content(), Some("hello group"));
            client.ack_message(&got).await.unwrap();
        }
        let mut heard = Vec::new();
        eventually(|| {
            heard.extend(server.with_network(|net| contact.receive_all(net)));
            heard
                .iter()
                .any(|e| matches!(e, MessagingEvent::Message(m) if m.id == id))
        })
        .await;

        // The contact answers in the group; every client reads it.
        let reply = server.with_network(|net| contact.send_text(net, &group, "hi all"));
        for (client, watch) in clients.iter_mut() {
            let got = next_message(watch).await;
            assert_eq!(got.id, reply);
            assert_eq!(got.sender.user(), "15550009999");
            client.ack_message(&got).await.unwrap();
        }
        for (client, watch) in &clients {
            assert_eq!(watch.count(|e| matches!(e, Event::Undecryptable { .. })), 0);
            client.disconnect().await;
        }
    });
}

/// A [`CacheStore`] that keeps entries in a map and logs every call; or, when
/// `down`, fails every call.
#[derive(Default)]
struct RecordingCache {
    entries: std::sync::Mutex<std::collections::HashMap<(String, String), Vec<u8>>>,
    log: std::sync::Mutex<Vec<String>>,
    down: bool,
}

impl RecordingCache {
    fn note(&self, call: String) -> Result<(), wa_core::cache::CacheError> {
        self.log.lock().unwrap().push(call);
        if self.down {
            return Err(wa_core::cache::CacheError::backend("the cache is down"));
        }
        Ok(())
    }

    fn calls(&self, prefix: &str) -> usize {
        let log = self.log.lock().unwrap();
        log.iter().filter(|c| c.starts_with(prefix)).count()
    }
}

#[async_trait::async_trait]
impl wa_core::cache::CacheStore for RecordingCache {
    async fn get(
        &self,
        namespace: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, wa_core::cache::CacheError> {
        self.note(format!("get {namespace} {key}"))?;
        let entries = self.entries.lock().unwrap();
        Ok(entries
            .get(&(namespace.to_owned(), key.to_owned()))
            .cloned())
    }

    async fn set(
        &self,
        namespace: &str,
        key: &str,
        value: &[u8],
        _ttl: Option<std::time::Duration>,
    ) -> Result<(), wa_core::cache::CacheError> {
        self.note(format!("set {namespace} {key}"))?;
        let mut entries = self.entries.lock().unwrap();
        entries.insert((namespace.to_owned(), key.to_owned()), value.to_vec());
        Ok(())
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<(), wa_core::cache::CacheError> {
        self.note(format!("delete {namespace} {key}"))?;
        let mut entries = self.entries.lock().unwrap();
        entries.remove(&(namespace.to_owned(), key.to_owned()));
        Ok(())
    }

    async fn clear(&self, namespace: &str) -> Result<(), wa_core::cache::CacheError> {
        self.note(format!("clear {namespace}"))?;
        let mut entries = self.entries.lock().unwrap();
        entries.retain(|(ns, _), _| ns != namespace);
        Ok(())
    }

    async fn entry_count(&self, namespace: &str) -> Result<u64, wa_core::cache::CacheError> {
        self.note(format!("count {namespace}"))?;
        let entries = self.entries.lock().unwrap();
        Ok(entries.keys().filter(|(ns, _)| ns == namespace).count() as u64)
    }
}

/// How many `w:g2` queries the server got, over every connection.
fn group_queries(server: &LoopbackServer) -> usize {
    server
        .records()
        .iter()
        .flat_map(|r| r.received.iter())
        .filter(|n| n.tag == "iq" && n.attr_str("xmlns") == Some("w:g2"))
        .count()
}

/// Two group sends and a 1:1 send by a client whose caches live in `cache`;
/// every message must reach the contact.
async fn sends_with_cache(cache: Arc<RecordingCache>) -> LoopbackServer {
    use wa_core::cache::{CacheConfig, CacheStores};
    use wa_core::messaging::MessagingEvent;
    let server = LoopbackServer::builder().start().unwrap();
    let group: Jid = "120363000000000001@g.us".parse().unwrap();
    let mut contact = server.with_network(|net| Party::join(net, "15550009999", 0, 9));
    server.with_network(|net| net.set_group(&group, &[account(1), Jid::pn("15550009999")]));
    let (store, _) = store_with_linked_device(1).await;
    let client = builder(&server, store)
        .cache_config(CacheConfig {
            stores: CacheStores::all(cache),
            ..CacheConfig::default()
        })
        .start()
        .await
        .unwrap();
    let mut watch = Watch::new(&client);
    watch
        .until(|e| matches!(e, Event::OfflineSynced { .. }))
        .await;
    let mut ids = vec![
        client.send_text(&group, "one").await.unwrap(),
        client.send_text(&group, "two").await.unwrap(),
    ];
    ids.push(
        client
            .send_text(&Jid::pn("15550009999"), "three")
            .await
            .unwrap(),
    );
    let mut got = Vec::new();
    eventually(|| {
        for event in server.with_network(|net| contact.receive_all(net)) {
            if let MessagingEvent::Message(m) = event {
                got.push(m.id.clone());
            }
        }
        got.len() >= ids.len()
    })
    .await;
    assert_eq!(got, ids);
    client.disconnect().await;
    server
}

#[test]
fn the_caches_live_in_a_custom_store_and_spare_the_server_queries() {
    bounded(async {
        let cache = Arc::new(RecordingCache::default());
        let server = sends_with_cache(cache.clone()).await;
        // The participants were asked for once, then read from the cache.
        assert_eq!(group_queries(&server), 1);
        assert_eq!(cache.calls("set group 120363000000000001@g.us"), 1);
        assert_eq!(cache.calls("get group 120363000000000001@g.us"), 2);
        // Device lists went through the cache too.
        assert!(cache.calls("set device_registry 15550009999") >= 1);
        assert!(cache.calls("get device_registry 15550009999") >= 2);
    });
}

#[test]
fn a_failing_cache_only_costs_queries() {
    bounded(async {
        let cache = Arc::new(RecordingCache {
            down: true,
            ..RecordingCache::default()
        });
        let server = sends_with_cache(cache.clone()).await;
        // Every send asked the server: the cache never answered.
        assert_eq!(group_queries(&server), 2);
        assert!(cache.calls("get group") >= 2);
    });
}

#[test]
fn a_group_change_notification_drops_the_cached_participants() {
    use wa_core::binary::Node;
    use wa_core::cache::{CacheConfig, CacheStores};
    use wa_io_smol::testserver::Control;
    bounded(async {
        let cache = Arc::new(RecordingCache::default());
        let server = LoopbackServer::builder().start().unwrap();
        let group: Jid = "120363000000000001@g.us".parse().unwrap();
        server.with_network(|net| {
            Party::join(net, "15550009999", 0, 9);
            net.set_group(&group, &[account(1), Jid::pn("15550009999")]);
        });
        let (store, _) = store_with_linked_device(1).await;
        let client = builder(&server, store)
            .cache_config(CacheConfig {
                stores: CacheStores::all(cache.clone()),
                ..CacheConfig::default()
            })
            .start()
            .await
            .unwrap();
        let mut watch = Watch::new(&client);
        watch
            .until(|e| matches!(e, Event::OfflineSynced { .. }))
            .await;
        client.send_text(&group, "one").await.unwrap();
        client.send_text(&group, "two").await.unwrap();
        assert_eq!(group_queries(&server), 1);
        server.control(Control::Send(
            Node::new("notification")
                .with_attr("type", "w:gp2")
                .with_attr("id", "n1")
                .with_attr("from", &group)
                .with_children([Node::new("remove")]),
        ));
        // The application still sees it.
        watch
            .until(|e| matches!(e, Event::Stanza(n) if n.tag == "notification"))
            .await;
        client.send_text(&group, "three").await.unwrap();
        assert_eq!(cache.calls("delete group 120363000000000001@g.us"), 1);
        assert_eq!(group_queries(&server), 2);
        client.disconnect().await;
    });
}

#[test]
fn an_event_callback_gets_every_event_in_order() {
    bounded(async {
        let server = LoopbackServer::builder().start().unwrap();
        let (store, _) = store_with_linked_device(1).await;
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let client = builder(&server, store)
            .on_event(move |event| sink.lock().unwrap().push(event.to_string()))
            .start()
            .await
            .unwrap();
        eventually(|| {
            seen.lock()
                .unwrap()
                .iter()
                .any(|e| e.starts_with("offline messages delivered"))
        })
        .await;
        client.disconnect().await;
        eventually(|| {
            seen.lock()
                .unwrap()
                .iter()
                .any(|e| e.starts_with("stopped"))
        })
        .await;
        let seen = seen.lock().unwrap();
        let at = |prefix: &str| seen.iter().position(|e| e.starts_with(prefix)).unwrap();
        assert!(at("connecting") < at("logged in") && at("logged in") < at("stopped"));
        assert_eq!(seen.last().map(|e| e.starts_with("stopped")), Some(true));
    });
}

#[test]
fn acknowledging_inline_while_a_backlog_fills_the_event_channel_does_not_hang() {
    bounded(async {
        const N: usize = 150;
        let (server, store) = offline_backlog(N, "b").await;
        // A tiny event channel, and an application that awaits each
        // acknowledgement before it reads the next event.
        let client = builder(&server, store.clone())
            .event_capacity(2)
            .start()
            .await
            .unwrap();
        let events = client.events();
        let mut acked = 0;
        while acked < N {
            if let Event::Message(m) = events.recv().await.unwrap() {
                client.ack_message(&m).await.unwrap();
                acked += 1;
            }
        }
        assert!(store.list_inbox(usize::MAX).await.unwrap().is_empty());
        client.disconnect().await;
    });
}

#[test]
fn lid_addressed_messages_and_retries_reach_one_session() {
    use wa_core::store::SignalStore;
    use wa_core::testing::network::Addressing;
    bounded(async {
        let (server, mut contact, store, client, mut watch) = with_contact().await;
        // The server names senders by LID (and their phone number beside).
        server.with_network(|net| {
            net.set_lid("15550009999", "900009999");
            net.addressing = Addressing::Lid;
        });
        server.with_network(|net| contact.send_text(net, &account(1), "by lid"));
        let got = next_message(&mut watch).await;
        assert_eq!(got.message.text_content(), Some("by lid"));
        assert_eq!(got.sender, Jid::lid("900009999"));
        client.ack_message(&got).await.unwrap();
        // The client answers the phone number; the contact reads it.
        client
            .send_text(&Jid::pn("15550009999"), "to the number")
            .await
            .unwrap();
        eventually(|| {
            server
                .with_network(|net| contact.receive_all(net))
                .iter()
                .any(|e| matches!(e, wa_core::messaging::MessagingEvent::Message(_)))
        })
        .await;

        // The client's session lives under the LID; it loses it, and the
        // contact's retries rebuild that one session.
        let lid = wa_core::message::SignalAddress::of(&Jid::lid("900009999")).to_string();
        assert!(store.get_session(&lid).await.unwrap().is_some());
        store.delete_session(&lid).await.unwrap();
        let id = server.with_network(|net| contact.send_text(net, &account(1), "after the loss"));
        let got = next_message_while_contact_answers(&server, &mut contact, &mut watch).await;
        assert_eq!(got.id, id);
        assert!(store.get_session(&lid).await.unwrap().is_some());
        let pn = wa_core::message::SignalAddress::of(&Jid::pn("15550009999")).to_string();
        assert!(
            store.get_session(&pn).await.unwrap().is_none(),
            "one session"
        );
        client.disconnect().await;
    });
}

#[test]
fn a_burst_of_concurrent_acknowledgements_releases_every_message() {
    bounded(async {
        const N: usize = 120;
        let (server, mut contact, store, client, mut watch) = with_contact().await;
        server.with_network(|net| {
            for i in 0..N {
                contact.send_text(net, &account(1), &format!("c{i}"));
            }
        });
        let mut got = Vec::new();
        while got.len() < N {
            got.push(next_message(&mut watch).await);
        }
        assert_eq!(store.list_inbox(usize::MAX).await.unwrap().len(), N);
        // Every message acknowledged from its own task at once: the client
        // releases what is queued together, and each caller learns the result.
        let tasks: Vec<_> = got
            .into_iter()
            .map(|m| {
                let client = client.clone();
                smol::spawn(async move { client.ack_message(&m).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert!(store.list_inbox(usize::MAX).await.unwrap().is_empty());
        client.disconnect().await;

        // Nothing comes again after a restart.
        nothing_comes_again(&server, store).await;
    });
}

#[test]
fn a_backlog_larger_than_the_work_queue_does_not_hold_up_the_login_queries() {
    bounded(async {
        // More queued messages than the messaging worker's queue holds (256):
        // the answers to the worker's own login queries (prekey count, digest,
        // `<active/>`) arrive behind them on the connection.
        const N: usize = 1000;
        let (server, store) = offline_backlog(N, "q").await;
        // A client whose queries time out long after the test's bound: a
        // worker that waits for an answer the driver does not read hangs the
        // test instead of recovering after the timeout.
        let client = builder(&server, store.clone())
            .iq_timeout(std::time::Duration::from_secs(600))
            .start()
            .await
            .unwrap();
        receive_in_order_acking_each(&client, N, "q").await;
        client.disconnect().await;
    });
}

#[test]
fn acknowledgements_from_many_tasks_during_a_backlog_all_succeed_on_a_durable_store() {
    bounded(async {
        // A store whose commits take time (fsync): new work arriving while an
        // acknowledgement commits must not cut the commit short and tell its
        // callers the client stopped.
        const N: usize = 400;
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(wa_store_redb::RedbStore::open(dir.path().join("acks.redb")).unwrap());
        wa_core::store::DeviceStore::save(&*store, &wa_core::testing::registered_device(1))
            .await
            .unwrap();
        let server = LoopbackServer::builder().start().unwrap();
        let mut contact = server.with_network(|net| Party::join(net, "15550009999", 0, 9));
        let client = builder(&server, store.clone()).start().await.unwrap();
        let mut watch = Watch::new(&client);
        watch
            .until(|e| matches!(e, Event::OfflineSynced { .. }))
            .await;
        client.disconnect().await;
        server.with_network(|net| {
            for i in 0..N {
                contact.send_text(net, &account(1), &format!("d{i}"));
            }
        });
        let client = builder(&server, store.clone()).start().await.unwrap();
        let events = client.events();
        let mut tasks = Vec::new();
        while tasks.len() < N {
            if let Event::Message(m) = events.recv().await.unwrap() {
                let client = client.clone();
                tasks.push(smol::spawn(async move { client.ack_message(&m).await }));
            }
        }
        let mut failed = 0;
        for t in tasks {
            if t.await.is_err() {
                failed += 1;
            }
        }
        assert_eq!(failed, 0, "acknowledgements failed while the client ran");
        assert!(store.list_inbox(usize::MAX).await.unwrap().is_empty());
        client.disconnect().await;
    });
}

#[test]
fn a_backlog_beyond_the_read_ahead_only_delays_the_login_queries() {
    bounded(async {
        // Past what the client may hold it stops reading the connection (and
        // with it the connection's timers): the answers to the login queries
        // stay behind the backlog, so the worker's own bound on its queries
        // fails them and the backlog flows instead of both sides waiting for
        // ever.
        const N: usize = 600;
        let (server, store) = offline_backlog(N, "r").await;
        let client = builder(&server, store.clone())
            .read_ahead(16)
            .iq_timeout(std::time::Duration::from_millis(300))
            .start()
            .await
            .unwrap();
        receive_in_order_acking_each(&client, N, "r").await;
        client.disconnect().await;
    });
}

#[test]
fn acknowledging_inline_through_a_reconnect_during_a_backlog_does_not_hang() {
    bounded(async {
        // The application acknowledges each message from the task that reads
        // the events, with room for one event; the connection drops during
        // the backlog, so the drive loop waits for room for its own events
        // (reconnecting) while the worker asks it to send receipts.
        const N: usize = 300;
        let (server, store) = offline_backlog(N, "c").await;
        let client = builder(&server, store.clone())
            .event_capacity(1)
            .iq_timeout(std::time::Duration::from_millis(300))
            .start()
            .await
            .unwrap();
        let events = client.events();
        let mut seen = std::collections::BTreeSet::new();
        while seen.len() < N {
            if let Event::Message(m) = events.recv().await.unwrap() {
                let text = m.message.text_content().unwrap().to_owned();
                assert!(seen.insert(text.clone()), "{text} delivered twice");
                client.ack_message(&m).await.unwrap();
                if seen.len() == 20 {
                    server.control(wa_io_smol::testserver::Control::Cut);
                }
            }
        }
        assert!((0..N).all(|i| seen.contains(&format!("c{i}"))));
        client.disconnect().await;
    });
}
