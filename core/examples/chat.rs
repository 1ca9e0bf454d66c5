//! Two accounts chat on the sans-IO test network, every step visible: Alice
//! (a phone and a linked laptop) and Bob exchange messages, Bob's session is
//! lost and recovered through retry receipts, and Bob's new device gets a
//! message sent from a stale device list.
//!
//! ```sh
//! cargo run -p wa-core --features testing --example chat
//! ```
//!
//! Every message goes through the messaging jobs of `wa_core::messaging`
//! against in-memory stores: stored first, then sent, then reported.

use wa_core::binary::Jid;
use wa_core::message::SignalAddress;
use wa_core::messaging::MessagingEvent;
use wa_core::store::SignalStore;
use wa_core::testing::network::{Network, Party};

fn show(who: &str, events: &[MessagingEvent]) {
    for event in events {
        match event {
            MessagingEvent::Message(m) => {
                let text = m.message.text_content().unwrap_or("(no text)");
                let mine = if m.from_me {
                    " (sent from another of my devices)"
                } else {
                    ""
                };
                println!(
                    "  {who} <- [{}] {} / {}: {text}{mine}",
                    m.timestamp, m.chat, m.sender
                );
            }
            MessagingEvent::Sent { id } => println!("  {who}: server took {id}"),
            MessagingEvent::IdentityChanged { device } => {
                println!("  {who}: security code of {device} changed")
            }
            MessagingEvent::Undecryptable { id, sender, reason } => {
                println!("  {who}: could not read {id} from {sender} ({reason}); asked to resend")
            }
            other => println!("  {who}: {other:?}"),
        }
    }
}

fn main() {
    let mut net = Network::new();
    let mut alice = Party::join(&mut net, "15550001", 0, 1);
    let mut laptop = Party::join(&mut net, "15550001", 4, 2);
    let mut bob = Party::join(&mut net, "15550002", 0, 3);
    let (alice_user, bob_user) = (Jid::pn("15550001"), Jid::pn("15550002"));
    println!(
        "alice {}, her laptop {}, bob {}",
        alice.jid, laptop.jid, bob.jid
    );

    println!("\nalice writes to bob (the first message sets up sessions with every device):");
    alice.send_text(&mut net, &bob_user, "hi Bob, it's Alice");
    show("bob", &bob.receive_all(&mut net));
    show("laptop", &laptop.receive_all(&mut net));
    show("alice", &alice.receive_all(&mut net));

    println!("\nbob answers; both of alice's devices read it:");
    bob.send_text(&mut net, &alice_user, "hello Alice!");
    show("alice", &alice.receive_all(&mut net));
    show("laptop", &laptop.receive_all(&mut net));
    show("bob", &bob.receive_all(&mut net));

    println!(
        "\nbob loses his session with alice's phone; the next message is recovered by retries:"
    );
    let address = SignalAddress::of(&alice.jid).to_string();
    futures_lite::future::block_on(bob.store.delete_session(&address)).expect("memory store");
    alice.send_text(&mut net, &bob_user, "can you still read me?");
    for _ in 0..4 {
        show("bob", &bob.receive_all(&mut net));
        show("alice", &alice.receive_all(&mut net));
    }
    show("laptop", &laptop.receive_all(&mut net));

    println!(
        "\nbob links a tablet; alice's cached device list is stale, the server's phash shows it:"
    );
    let mut tablet = Party::join(&mut net, "15550002", 9, 4);
    alice.send_text(&mut net, &bob_user, "welcome, tablet");
    show("alice", &alice.receive_all(&mut net));
    show("tablet", &tablet.receive_all(&mut net));
    show("bob", &bob.receive_all(&mut net));
    show("laptop", &laptop.receive_all(&mut net));
    println!("\nstanzas sent by the clients: {:?}", net.answers);
}
