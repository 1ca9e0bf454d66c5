//! Two accounts chat through the bundled test server, offline: each is a
//! `Client` with its own store, linked already; they exchange a few 1:1
//! messages end to end encrypted (Signal sessions from prekey bundles),
//! with delivery receipts, and release each message from the inbox once
//! printed.
//!
//! ```text
//! cargo run -p wa-io-smol --example chat_offline
//! ```

use std::sync::Arc;
use std::time::Duration;

use futures_lite::future::or;
use wa_core::binary::Jid;
use wa_core::store::{DeviceStore, MemoryStore};
use wa_io_smol::client::{Client, Event};
use wa_io_smol::testserver::LoopbackServer;

/// A linked test account (`1555000000<seed>`) on `server`, online and
/// ready (prekeys uploaded, offline queue read).
async fn account(
    server: &LoopbackServer,
    seed: u8,
) -> Result<(Client, async_channel::Receiver<Event>), Box<dyn std::error::Error>> {
    let store = Arc::new(MemoryStore::new());
    store
        .save(&wa_core::testing::registered_device(seed))
        .await?;
    let client = Client::builder()
        .backend(store)
        .transport_factory(Arc::new(server.transport_factory()))
        .config(server.client_config())
        .web_version_policy(None)
        .start()
        .await?;
    let events = client.events();
    while let Ok(event) = events.recv().await {
        if let Event::OfflineSynced { .. } = event {
            break;
        }
    }
    Ok((client, events))
}

/// Prints what `client` hears until `wanted` messages arrived, releasing
/// each from the inbox once printed.
async fn listen(
    name: &str,
    client: &Client,
    events: &async_channel::Receiver<Event>,
    wanted: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut got = 0;
    while got < wanted {
        match events.recv().await? {
            Event::Message(m) => {
                got += 1;
                let text = m.message.text_content().unwrap_or("<not text>");
                println!("[{name}] {} says: {text}", m.chat);
                client.ack_message(&m).await?;
            }
            Event::Receipt(r) => println!(
                "[{name}] {} {} {}",
                r.from.to_non_ad(),
                r.kind.as_deref().unwrap_or("received"),
                r.ids.join(", ")
            ),
            _ => {}
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    smol::block_on(or(chat(), async {
        smol::Timer::after(Duration::from_secs(30)).await;
        Err("timed out".into())
    }))
}

async fn chat() -> Result<(), Box<dyn std::error::Error>> {
    let server = LoopbackServer::builder().start()?;
    println!("test server on {}", server.url());
    let (alice, alice_events) = account(&server, 1).await?;
    let (bob, bob_events) = account(&server, 2).await?;
    let alice_jid = Jid::pn("15550000001");
    let bob_jid = Jid::pn("15550000002");

    let id = alice.send_text(&bob_jid, "Hi Bob, are you there?").await?;
    println!("[alice] sent {id}");
    listen("bob", &bob, &bob_events, 1).await?;
    let id = bob
        .send_text(&alice_jid, "Hi Alice! Loud and clear.")
        .await?;
    println!("[bob] sent {id}");
    listen("alice", &alice, &alice_events, 1).await?;
    for text in ["Good.", "Signal sessions work both ways."] {
        alice.send_text(&bob_jid, text).await?;
    }
    listen("bob", &bob, &bob_events, 2).await?;

    alice.disconnect().await;
    bob.disconnect().await;
    println!("done");
    Ok(())
}
