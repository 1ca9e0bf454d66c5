//! 1:1 messaging between devices on the stanza-level test network: the jobs of
//! `wa_core::messaging` run against MemoryStores, with every write committed
//! before the stanzas it produced leave.

use wa_core::binary::Jid;
use wa_core::message::{Message, MessageId};
use wa_core::messaging::{MessagingEvent, ReceivedMessage};
use wa_core::store::SignalStore;
use wa_core::testing::network::{Network, Party};

fn messages(events: &[MessagingEvent]) -> Vec<&ReceivedMessage> {
    events
        .iter()
        .filter_map(|e| match e {
            MessagingEvent::Message(m) => Some(&**m),
            _ => None,
        })
        .collect()
}

fn texts(events: &[MessagingEvent]) -> Vec<String> {
    messages(events)
        .iter()
        .filter_map(|m| m.message.text_content().map(str::to_owned))
        .collect()
}

#[test]
fn text_both_ways_between_two_accounts() {
    let mut net = Network::new();
    let mut alice = Party::join(&mut net, "15550001", 0, 1);
    let mut bob = Party::join(&mut net, "15550002", 0, 2);
    let alice_user = Jid::pn("15550001");
    let bob_user = Jid::pn("15550002");

    let id = alice.send_text(&mut net, &bob_user, "hi Bob");
    let got = bob.receive_all(&mut net);
    let received = messages(&got);
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].id, id);
    assert_eq!(received[0].chat, alice_user);
    assert_eq!(received[0].sender, alice.jid);
    assert!(!received[0].from_me);
    // Bob's receipt went back; Alice's ack arrived.
    assert_eq!(net.answers.get("receipt"), Some(&1));
    let alice_events = alice.receive_all(&mut net);
    assert!(
        alice_events.contains(&MessagingEvent::Sent { id: id.clone() }),
        "{alice_events:?}"
    );

    for round in 0..5 {
        bob.send_text(&mut net, &alice_user, &format!("b{round}"));
        assert_eq!(texts(&alice.receive_all(&mut net)), [format!("b{round}")]);
        alice.send_text(&mut net, &bob_user, &format!("a{round}"));
        alice.send_text(&mut net, &bob_user, &format!("a{round}'"));
        assert_eq!(
            texts(&bob.receive_all(&mut net)),
            [format!("a{round}"), format!("a{round}'")]
        );
    }
    // Bob's one-time prekey was used once, and removed from his store.
    assert_eq!(
        net.handed_out.iter().filter(|(d, _)| *d == bob.jid).count(),
        1
    );
    let (_, used) = net
        .handed_out
        .iter()
        .find(|(d, _)| *d == bob.jid)
        .expect("handed out");
    assert_eq!(
        smol::block_on(bob.store.load_prekey(*used)).expect("store"),
        None
    );
}

#[test]
fn every_device_of_both_accounts_gets_the_message() {
    let mut net = Network::new();
    let mut alice = Party::join(&mut net, "15550001", 0, 11);
    let mut alice_web = Party::join(&mut net, "15550001", 7, 12);
    let mut bobs: Vec<Party> = [0u16, 3, 4]
        .iter()
        .map(|d| Party::join(&mut net, "15550002", *d, 20 + u64::from(*d)))
        .collect();
    let bob_user = Jid::pn("15550002");

    let id = alice.send_text(&mut net, &bob_user, "to all of you");
    for bob in &mut bobs {
        let got = bob.receive_all(&mut net);
        assert_eq!(texts(&got), ["to all of you"], "{}", bob.jid);
        assert_eq!(messages(&got)[0].id, id);
    }
    // Alice's other device sees her message, unwrapped, in the chat with Bob.
    let mine = alice_web.receive_all(&mut net);
    let copy = messages(&mine);
    assert_eq!(copy.len(), 1);
    assert!(copy[0].from_me);
    assert_eq!(copy[0].chat, bob_user);
    assert_eq!(copy[0].message.text_content(), Some("to all of you"));
    // The sender's own device is not a target: it gets the server's ack and the
    // four delivery receipts, no message.
    let queue = net.take_queue(&alice.jid);
    let tags: Vec<&str> = queue.iter().map(|n| n.tag.as_str()).collect();
    assert_eq!(tags.iter().filter(|t| **t == "ack").count(), 1, "{tags:?}");
    assert_eq!(
        tags.iter().filter(|t| **t == "receipt").count(),
        4,
        "{tags:?}"
    );
    assert!(!tags.contains(&"message"));
    // Replies from any of Bob's devices reach both of Alice's.
    bobs[2].send_text(&mut net, &Jid::pn("15550001"), "from device 4");
    assert_eq!(texts(&alice.receive_all(&mut net)), ["from device 4"]);
    assert_eq!(texts(&alice_web.receive_all(&mut net)), ["from device 4"]);
    // ... and Bob's other devices get his copy.
    let copy = bobs[0].receive_all(&mut net);
    assert_eq!(messages(&copy).len(), 1);
    assert!(messages(&copy)[0].from_me);
}

#[test]
fn an_offline_backlog_of_a_thousand_is_delivered_once_each() {
    let mut net = Network::new();
    let mut alice = Party::join(&mut net, "15550001", 0, 31);
    let mut bob = Party::join(&mut net, "15550002", 0, 32);
    let bob_user = Jid::pn("15550002");
    let ids: Vec<MessageId> = (0..1000)
        .map(|i| alice.send_text(&mut net, &bob_user, &format!("m{i}")))
        .collect();
    assert_eq!(net.queued(&bob.jid), 1000);
    let got = bob.receive_all(&mut net);
    let received = messages(&got);
    assert_eq!(received.len(), 1000);
    for (i, m) in received.iter().enumerate() {
        assert_eq!(m.id, ids[i]);
        assert_eq!(m.message.text_content(), Some(format!("m{i}").as_str()));
    }
    assert_eq!(
        net.answers.get("receipt"),
        Some(&1000),
        "every message answered once"
    );
}

#[test]
fn a_redelivered_message_is_answered_but_not_delivered_again() {
    let mut net = Network::new();
    let mut alice = Party::join(&mut net, "15550001", 0, 41);
    let mut bob = Party::join(&mut net, "15550002", 0, 42);
    alice.send_text(&mut net, &Jid::pn("15550002"), "once");
    let stanzas = net.take_queue(&bob.jid);
    assert_eq!(stanzas.len(), 1);
    let first = bob.handle(&mut net, &stanzas[0]);
    assert_eq!(texts(&first), ["once"]);
    let again = bob.handle(&mut net, &stanzas[0]);
    assert!(messages(&again).is_empty(), "{again:?}");
    assert_eq!(
        net.answers.get("receipt"),
        Some(&2),
        "the duplicate is answered too"
    );
}

#[test]
fn extended_text_with_a_quote_round_trips() {
    use wa_core::message::proto::{ContextInfo, ExtendedTextMessage};
    let mut net = Network::new();
    let mut alice = Party::join(&mut net, "15550001", 0, 51);
    let mut bob = Party::join(&mut net, "15550002", 0, 52);
    let original = alice.send_text(&mut net, &Jid::pn("15550002"), "question?");
    bob.receive_all(&mut net);
    let reply = Message {
        extended_text_message: Some(ExtendedTextMessage {
            text: Some("answer!".into()),
            context_info: Some(Box::new(ContextInfo {
                stanza_id: Some(original.to_string()),
                participant: Some(alice.jid.to_non_ad().to_string()),
                quoted_message: Some(Box::new(Message::text("question?"))),
                ..Default::default()
            })),
        }),
        ..Default::default()
    };
    bob.send(&mut net, &Jid::pn("15550001"), reply.clone());
    let got = alice.receive_all(&mut net);
    let m = messages(&got);
    assert_eq!(m[0].message, reply);
    let quoted = m[0]
        .message
        .extended_text_message
        .as_ref()
        .and_then(|e| e.context_info.as_ref());
    assert_eq!(
        quoted.and_then(|c| c.stanza_id.as_deref()),
        Some(original.as_str())
    );
}

/// Runs every queue until the network is quiet; returns each party's events.
fn settle(net: &mut Network, parties: &mut [&mut Party]) -> Vec<Vec<MessagingEvent>> {
    let mut all: Vec<Vec<MessagingEvent>> = parties.iter().map(|_| Vec::new()).collect();
    loop {
        let mut any = false;
        for (i, p) in parties.iter_mut().enumerate() {
            let got = p.receive_all(net);
            any |= !got.is_empty();
            all[i].extend(got);
        }
        if parties.iter().all(|p| net.queued(&p.jid) == 0) && !any {
            return all;
        }
    }
}

/// Alice (`15550001`, seed `seed`) and Bob (`15550002`, seed `seed + 1`)
/// with a session confirmed both ways, which Bob then loses.
fn session_lost_by_bob(seed: u64) -> (Network, Party, Party) {
    let mut net = Network::new();
    let mut alice = Party::join(&mut net, "15550001", 0, seed);
    let mut bob = Party::join(&mut net, "15550002", 0, seed + 1);
    alice.send_text(&mut net, &Jid::pn("15550002"), "before");
    bob.receive_all(&mut net);
    bob.send_text(&mut net, &Jid::pn("15550001"), "reply");
    alice.receive_all(&mut net);
    let address = wa_core::message::SignalAddress::of(&alice.jid).to_string();
    smol::block_on(bob.store.delete_session(&address)).expect("delete");
    (net, alice, bob)
}

#[test]
fn a_lost_session_is_recovered_through_retry_receipts() {
    // Bob loses his session with Alice.
    let (mut net, mut alice, mut bob) = session_lost_by_bob(61);
    let id = alice.send_text(&mut net, &Jid::pn("15550002"), "after the loss");
    let events = settle(&mut net, &mut [&mut alice, &mut bob]);
    let bob_events = &events[1];
    // First attempt and the plain retry fail; the retry with keys succeeds.
    let undecryptable = bob_events
        .iter()
        .filter(|e| matches!(e, MessagingEvent::Undecryptable { .. }))
        .count();
    assert_eq!(undecryptable, 2, "{bob_events:?}");
    let got = messages(bob_events);
    assert_eq!(got.len(), 1, "{bob_events:?}");
    assert_eq!(got[0].id, id);
    assert_eq!(got[0].message.text_content(), Some("after the loss"));
    // And the conversation goes on both ways.
    bob.send_text(&mut net, &Jid::pn("15550001"), "back again");
    assert_eq!(texts(&alice.receive_all(&mut net)), ["back again"]);
    alice.send_text(&mut net, &Jid::pn("15550002"), "good");
    assert_eq!(texts(&bob.receive_all(&mut net)), ["good"]);
}

#[test]
fn prekeys_are_refilled_with_ids_never_repeated_across_restarts() {
    use wa_core::messaging::{Messenger, OwnDevice, PREKEY_BATCH};
    let mut net = Network::new();
    let mut bob = Party::join(&mut net, "15550002", 0, 72);
    assert_eq!(net.prekey_count(&bob.jid), PREKEY_BATCH as usize);
    let first = bob.device().next_pre_key_id;
    assert_eq!(
        first,
        1 + PREKEY_BATCH,
        "the counter is persisted with the keys"
    );

    // The server runs out; Bob checks after his next login and refills.
    net.drain_prekeys(&bob.jid);
    let device = bob.device();
    let job = bob.messenger.refill_prekeys(false, &device);
    bob.run(&mut net, job);
    assert_eq!(net.prekey_count(&bob.jid), PREKEY_BATCH as usize);
    assert_eq!(bob.device().next_pre_key_id, 1 + 2 * PREKEY_BATCH);

    // A restart (a new messenger from the stored device) continues the count,
    // and an upload the server asks for (forced) takes fresh ids again.
    let device = bob.device();
    bob.messenger = Messenger::new(
        OwnDevice::from_device(&device).expect("registered"),
        [9; 32],
    );
    let job = bob.messenger.refill_prekeys(true, &device);
    bob.run(&mut net, job);
    assert_eq!(bob.device().next_pre_key_id, 1 + 3 * PREKEY_BATCH);
    // Every id the server ever held for Bob is distinct: hand them all out.
    let mut alice_users = Vec::new();
    for i in 0..5u16 {
        let mut a = Party::join(&mut net, &format!("1666000{i}"), 0, 100 + u64::from(i));
        a.send_text(&mut net, &Jid::pn("15550002"), "hi");
        alice_users.push(a);
    }
    let ids: Vec<u32> = net
        .handed_out
        .iter()
        .filter(|(d, _)| *d == bob.jid)
        .map(|(_, id)| *id)
        .collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len());
    assert!(
        ids.iter().all(|id| *id > PREKEY_BATCH),
        "{ids:?}: none from the drained batch"
    );
    assert_eq!(texts(&bob.receive_all(&mut net)).len(), 5);
}

#[test]
fn a_contact_with_a_new_identity_is_reported_and_reached() {
    let mut net = Network::new();
    let mut alice = Party::join(&mut net, "15550001", 0, 81);
    let mut bob = Party::join(&mut net, "15550002", 0, 82);
    alice.send_text(&mut net, &Jid::pn("15550002"), "first");
    bob.receive_all(&mut net);
    bob.send_text(&mut net, &Jid::pn("15550001"), "ok");
    alice.receive_all(&mut net);

    // Bob reinstalls: same number and device, new keys.
    let mut new_bob = Party::join(&mut net, "15550002", 0, 83);
    let id = alice.send_text(&mut net, &Jid::pn("15550002"), "are you there?");
    let events = settle(&mut net, &mut [&mut alice, &mut new_bob]);
    assert!(
        events[0].iter().any(
            |e| matches!(e, MessagingEvent::IdentityChanged { device } if *device == new_bob.jid)
        ),
        "{:?}",
        events[0]
    );
    let got = messages(&events[1]);
    assert_eq!(got.len(), 1, "{:?}", events[1]);
    assert_eq!(got[0].id, id);
    drop(bob);
}

#[test]
fn a_stale_device_list_shows_in_the_phash_and_the_new_device_still_gets_the_message() {
    let mut net = Network::new();
    let mut alice = Party::join(&mut net, "15550001", 0, 91);
    let mut bob = Party::join(&mut net, "15550002", 0, 92);
    alice.send_text(&mut net, &Jid::pn("15550002"), "first");
    bob.receive_all(&mut net);
    alice.receive_all(&mut net);

    // Bob links a new device; Alice's cached list does not have it.
    let mut bob_web = Party::join(&mut net, "15550002", 5, 93);
    let id = alice.send_text(&mut net, &Jid::pn("15550002"), "second");
    assert_eq!(net.queued(&bob_web.jid), 0, "sent from the stale cache");
    // The ack's phash differs; Alice re-queries and sends to the new device.
    let alice_events = alice.receive_all(&mut net);
    assert!(
        alice_events.contains(&MessagingEvent::Sent { id: id.clone() }),
        "{alice_events:?}"
    );
    let got = bob_web.receive_all(&mut net);
    let m = messages(&got);
    assert_eq!(m.len(), 1, "{got:?}");
    assert_eq!(
        (m[0].id.as_str(), m[0].message.text_content()),
        (id.as_str(), Some("second"))
    );
    // Bob's first device got it once, and the list is now fresh: the next
    // message reaches both without a follow-up.
    assert_eq!(texts(&bob.receive_all(&mut net)), ["second"]);
    alice.receive_all(&mut net);
    alice.send_text(&mut net, &Jid::pn("15550002"), "third");
    assert_eq!(texts(&bob_web.receive_all(&mut net)), ["third"]);
    assert_eq!(texts(&bob.receive_all(&mut net)), ["third"]);
}

#[test]
fn lid_and_phone_number_addressing_reach_one_session() {
    use wa_core::message::SignalAddress;
    use wa_core::store::ProtocolStore;
    use wa_core::testing::network::Addressing;
    let mut net = Network::new();
    net.set_lid("15550001", "900001");
    let mut alice = Party::join(&mut net, "15550001", 0, 101);
    let mut bob = Party::join(&mut net, "15550002", 0, 102);
    let bob_user = Jid::pn("15550002");
    let pn_address = SignalAddress::of(&alice.jid).to_string();
    let lid_address = SignalAddress::of(&Jid::lid("900001")).to_string();
    let session = |bob: &Party, a: &str| smol::block_on(bob.store.get_session(a)).expect("store");

    // 1. Phone-number addressing, no mapping known: the session is under PN.
    alice.send_text(&mut net, &bob_user, "pn");
    assert_eq!(texts(&bob.receive_all(&mut net)), ["pn"]);
    assert!(session(&bob, &pn_address).is_some());

    // 2. The server now names the LID too: the mapping is learned and the
    //    session moves to the LID address.
    net.addressing = Addressing::PnWithLid;
    alice.send_text(&mut net, &bob_user, "pn+lid");
    assert_eq!(texts(&bob.receive_all(&mut net)), ["pn+lid"]);
    let mapping = smol::block_on(bob.store.get_pn_mapping("15550001")).expect("store");
    assert_eq!(mapping.map(|m| m.lid), Some("900001".to_owned()));
    assert!(
        session(&bob, &lid_address).is_some(),
        "migrated to the LID address"
    );
    assert!(
        session(&bob, &pn_address).is_none(),
        "no second session under PN"
    );

    // 3. LID-addressed stanzas find the same session.
    net.addressing = Addressing::Lid;
    alice.send_text(&mut net, &bob_user, "lid");
    let got = bob.receive_all(&mut net);
    assert_eq!(texts(&got), ["lid"]);
    assert_eq!(messages(&got)[0].sender, Jid::lid("900001"));

    // 4. Plain phone-number stanzas again: the stored mapping leads there.
    net.addressing = Addressing::Pn;
    alice.send_text(&mut net, &bob_user, "pn again");
    assert_eq!(texts(&bob.receive_all(&mut net)), ["pn again"]);
    assert!(session(&bob, &pn_address).is_none());

    // 5. Bob's reply to Alice's phone number uses the LID session (a plain
    //    ratchet message, not a new session).
    bob.send_text(&mut net, &Jid::pn("15550001"), "reply");
    let stanzas = net.take_queue(&alice.jid);
    let enc_types: Vec<_> = stanzas
        .iter()
        .filter(|n| n.tag == "message")
        .filter_map(|n| {
            n.child("enc")
                .and_then(|e| e.attr_str("type"))
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(enc_types, ["msg"]);
    let mut events = Vec::new();
    for s in &stanzas {
        events.extend(alice.handle(&mut net, s));
    }
    assert_eq!(texts(&events), ["reply"]);
}

#[test]
fn a_device_that_drops_before_answering_gets_the_message_again_and_reads_it_once() {
    let mut net = Network::new();
    let mut alice = Party::join(&mut net, "15550001", 0, 111);
    let mut bob = Party::join(&mut net, "15550002", 0, 112);
    alice.send_text(&mut net, &Jid::pn("15550002"), "one");
    alice.send_text(&mut net, &Jid::pn("15550002"), "two");
    // Bob takes both, handles only the first, and drops.
    let taken = net.take_queue(&bob.jid);
    assert_eq!(taken.len(), 2);
    assert_eq!(texts(&bob.handle(&mut net, &taken[0])), ["one"]);
    assert_eq!(net.unanswered(&bob.jid), 1);
    net.reconnect(&bob.jid);
    // Only the unanswered one comes back, and it decrypts.
    assert_eq!(texts(&bob.receive_all(&mut net)), ["two"]);
    assert_eq!(net.unanswered(&bob.jid), 0);
}

#[test]
fn crashes_before_a_commit_lose_nothing_and_break_no_session() {
    use rand_chacha::ChaCha20Rng;
    use rand_core::{Rng as _, SeedableRng};
    use wa_core::messaging::{Messenger, OwnDevice};
    let mut rng = ChaCha20Rng::seed_from_u64(121);
    let mut net = Network::new();
    let mut alice = Party::join(&mut net, "15550001", 0, 121);
    let mut bob = Party::join(&mut net, "15550002", 0, 122);
    let (alice_user, bob_user) = (Jid::pn("15550001"), Jid::pn("15550002"));
    let mut sent_by_alice = Vec::new();
    let mut sent_by_bob = Vec::new();
    let mut got_by_bob: Vec<MessageId> = Vec::new();
    let mut got_by_alice: Vec<MessageId> = Vec::new();
    let mut crashes = 0;
    for round in 0..60 {
        for i in 0..(rng.next_u32() % 3 + 1) {
            sent_by_alice.push(alice.send_text(&mut net, &bob_user, &format!("a{round}.{i}")));
        }
        // Bob handles his queue, crashing at a random step of a random job.
        let queue = net.take_queue(&bob.jid);
        let crash_at = (rng.next_u32() as usize) % (queue.len() + 2);
        for (k, stanza) in queue.iter().enumerate() {
            if k == crash_at {
                let job = match stanza.tag.as_str() {
                    "message" => bob.messenger.receive(stanza, net.now() as i64),
                    _ => continue,
                };
                let steps = (rng.next_u32() % 2) as usize; // 0 or 1 step: before the commit
                run_crashing(&mut bob, &mut net, job, Crash::Before(steps));
                // Restart: a new messenger from the stored device; the server
                // delivers everything unanswered again.
                let device = bob.device();
                bob.messenger = Messenger::new(
                    OwnDevice::from_device(&device).expect("registered"),
                    [round as u8; 32],
                );
                net.reconnect(&bob.jid);
                crashes += 1;
                break;
            }
            for e in bob.handle(&mut net, stanza) {
                match e {
                    MessagingEvent::Message(m) => got_by_bob.push(m.id.clone()),
                    MessagingEvent::Undecryptable { reason, .. } => {
                        panic!("a decrypt failed: {reason}")
                    }
                    _ => {}
                }
            }
        }
        if round % 4 == 0 {
            sent_by_bob.push(bob.send_text(&mut net, &alice_user, &format!("b{round}")));
        }
        for e in alice.receive_all(&mut net) {
            match e {
                MessagingEvent::Message(m) => got_by_alice.push(m.id.clone()),
                MessagingEvent::Undecryptable { reason, .. } => {
                    panic!("a decrypt failed at Alice: {reason}")
                }
                _ => {}
            }
        }
    }
    // Drain what is left.
    net.reconnect(&bob.jid);
    for e in bob.receive_all(&mut net) {
        match e {
            MessagingEvent::Message(m) => got_by_bob.push(m.id.clone()),
            MessagingEvent::Undecryptable { reason, .. } => panic!("a decrypt failed: {reason}"),
            _ => {}
        }
    }
    assert!(crashes > 20, "{crashes}");
    // Every message reached the other side exactly once, in order.
    assert_eq!(got_by_bob, sent_by_alice);
    assert_eq!(got_by_alice, sent_by_bob);
}

/// Where a simulated crash stops a job.
#[derive(Debug, Clone, Copy)]
enum Crash {
    /// After this many steps, before the outcome's commit.
    Before(usize),
    /// The outcome is committed; its stanzas never leave.
    AfterCommit,
    /// Committed and sent; the events never reach the application.
    AfterSend,
}

/// Runs `job` and crashes it at `crash`.
fn run_crashing(
    party: &mut Party,
    net: &mut Network,
    mut job: wa_core::messaging::Job,
    crash: Crash,
) {
    use wa_core::messaging::Step;
    use wa_core::store::apply_batch;
    let mut steps = 0;
    loop {
        if let Crash::Before(n) = crash
            && steps == n
        {
            return;
        }
        steps += 1;
        match job.step() {
            Step::Load(need) => {
                job.provide(smol::block_on(need.load(&party.store)).expect("store"))
            }
            Step::Query(iq) => {
                let answer = net.iq(&party.jid, &iq.with_attr("id", "iq-crash"));
                job.answer(Ok(answer));
            }
            Step::Commit(batch) => {
                smol::block_on(apply_batch(&party.store, &batch)).expect("store");
                job.committed();
            }
            Step::Done(outcome) => {
                if matches!(crash, Crash::Before(_)) {
                    return;
                }
                smol::block_on(apply_batch(&party.store, &outcome.batch)).expect("store");
                if matches!(crash, Crash::AfterSend) {
                    for stanza in &outcome.stanzas {
                        net.stanza(&party.jid, stanza);
                    }
                }
                return;
            }
        }
    }
}

#[test]
fn crashes_anywhere_in_a_receive_lose_nothing_thanks_to_the_inbox() {
    use rand_chacha::ChaCha20Rng;
    use rand_core::{Rng as _, SeedableRng};
    use std::collections::BTreeSet;
    let mut rng = ChaCha20Rng::seed_from_u64(131);
    let mut net = Network::new();
    let mut alice = Party::join(&mut net, "15550001", 0, 131);
    let mut bob = Party::join(&mut net, "15550002", 0, 132);
    let bob_user = Jid::pn("15550002");
    let mut sent = Vec::new();
    let mut seen = BTreeSet::new();
    let mut deliveries = 0;
    let mut crashes = [0usize; 3];
    // The application: handles a message (by id, so a redelivery is harmless),
    // then acknowledges it.
    let app = |bob: &mut Party, m: &ReceivedMessage, seen: &mut BTreeSet<MessageId>| {
        seen.insert(m.id.clone());
        bob.ack(m);
    };
    for round in 0..80 {
        for i in 0..(rng.next_u32() % 3 + 1) {
            sent.push(alice.send_text(&mut net, &bob_user, &format!("{round}.{i}")));
        }
        let queue = net.take_queue(&bob.jid);
        let crash_at = (rng.next_u32() as usize) % (queue.len() + 1);
        for (k, stanza) in queue.iter().enumerate() {
            if k == crash_at && stanza.tag == "message" {
                let crash = match rng.next_u32() % 3 {
                    0 => Crash::Before((rng.next_u32() % 2) as usize),
                    1 => Crash::AfterCommit,
                    _ => Crash::AfterSend,
                };
                crashes[match crash {
                    Crash::Before(_) => 0,
                    Crash::AfterCommit => 1,
                    Crash::AfterSend => 2,
                }] += 1;
                let job = bob.messenger.receive(stanza, net.now() as i64);
                run_crashing(&mut bob, &mut net, job, crash);
                // Restart: whatever the inbox holds is delivered again; the
                // server redelivers what was not answered.
                for m in bob.restart([round as u8; 32]) {
                    deliveries += 1;
                    app(&mut bob, &m, &mut seen);
                }
                net.reconnect(&bob.jid);
                break;
            }
            for e in bob.handle(&mut net, stanza) {
                match e {
                    MessagingEvent::Message(m) => {
                        deliveries += 1;
                        app(&mut bob, &m, &mut seen);
                    }
                    MessagingEvent::Undecryptable { reason, .. } => {
                        panic!("a decrypt failed: {reason}")
                    }
                    _ => {}
                }
            }
        }
        alice.receive_all(&mut net);
    }
    net.reconnect(&bob.jid);
    for e in bob.receive_all(&mut net) {
        match e {
            MessagingEvent::Message(m) => {
                deliveries += 1;
                app(&mut bob, &m, &mut seen);
            }
            MessagingEvent::Undecryptable { reason, .. } => panic!("a decrypt failed: {reason}"),
            _ => {}
        }
    }
    assert!(crashes.iter().all(|c| *c >= 10), "{crashes:?}");
    // Every message reached the application, by id; redeliveries were few.
    assert_eq!(seen, sent.iter().cloned().collect::<BTreeSet<_>>());
    assert!(deliveries >= sent.len());
    // Nothing is left in the inbox: every message was acknowledged.
    assert!(bob.restart([0; 32]).is_empty());
}

#[test]
fn a_message_is_reported_sent_once_however_often_it_is_resent() {
    let (mut net, mut alice, mut bob) = session_lost_by_bob(141);
    // Two retries follow: three acks of the same id reach Alice.
    let id = alice.send_text(&mut net, &Jid::pn("15550002"), "after");
    let events = settle(&mut net, &mut [&mut alice, &mut bob]);
    let sent = events[0]
        .iter()
        .filter(|e| **e == MessagingEvent::Sent { id: id.clone() })
        .count();
    assert_eq!(sent, 1, "{:?}", events[0]);
    assert_eq!(texts(&events[1]), ["after"]);
}

#[test]
fn a_backlog_committed_in_groups_reads_through_the_pending_writes() {
    let mut net = Network::new();
    let mut senders: Vec<Party> = (0..3u64)
        .map(|i| Party::join(&mut net, &format!("1555000{i}"), 0, 150 + i))
        .collect();
    let mut bob = Party::join(&mut net, "15559999", 0, 160);
    let bob_user = Jid::pn("15559999");
    let mut ids = Vec::new();
    for round in 0..40 {
        for (i, s) in senders.iter_mut().enumerate() {
            ids.push(s.send_text(&mut net, &bob_user, &format!("{i}:{round}")));
        }
    }
    // One message delivered twice within the same group: the second sees the
    // first's uncommitted session and is a duplicate.
    let queue = net.take_queue(&bob.jid);
    for (k, stanza) in queue.iter().enumerate() {
        net.deliver(&bob.jid, stanza.clone());
        if k == 5 {
            net.deliver(&bob.jid, queue[2].clone());
        }
    }
    let got = bob.receive_all_grouped(&mut net, 25);
    let received: Vec<MessageId> = messages(&got).iter().map(|m| m.id.clone()).collect();
    assert_eq!(received, ids, "every message once, in order");
    assert_eq!(
        net.answers.get("receipt"),
        Some(&121),
        "the duplicate is answered too"
    );
    // The committed state is the sequential one: the conversation goes on.
    senders[1].send_text(&mut net, &bob_user, "after the groups");
    assert_eq!(texts(&bob.receive_all(&mut net)), ["after the groups"]);
    bob.send_text(&mut net, &Jid::pn("15550001"), "reply");
    assert_eq!(texts(&senders[1].receive_all(&mut net)), ["reply"]);
}

/// The ids of an upload IQ's `<list>`.
fn uploaded_ids(iq: &wa_core::binary::Node) -> Vec<u32> {
    iq.child("list")
        .map(|l| {
            l.children_by_tag("key")
                .filter_map(|k| wa_core::message::stanza::key_id(k).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Runs a prekey job for `party` and returns the ids it uploads; with
/// `crash_before_upload` it stops (the process dies) right before the upload
/// leaves, after the batch was stored.
fn run_prekey_job(
    party: &mut Party,
    net: &mut Network,
    job: wa_core::messaging::Job,
    crash_before_upload: bool,
) -> Vec<u32> {
    use wa_core::testing::network::Intercept;
    let mut uploaded = Vec::new();
    party.run_intercepted(net, job, |iq| {
        if iq.child("list").is_some() {
            uploaded = uploaded_ids(iq);
            if crash_before_upload {
                return Intercept::Stop;
            }
        }
        Intercept::Network
    });
    uploaded
}

#[test]
fn a_crash_between_storing_new_prekeys_and_uploading_them_never_reuses_an_id() {
    use wa_core::messaging::{Messenger, OwnDevice, PREKEY_BATCH};
    let mut net = Network::new();
    let mut bob = Party::join(&mut net, "15550002", 0, 73);
    net.drain_prekeys(&bob.jid);

    // The refill stores its batch (with the advanced counter), then the
    // process dies before the upload leaves.
    let device = bob.device();
    let job = bob.messenger.refill_prekeys(false, &device);
    let lost = run_prekey_job(&mut bob, &mut net, job, true);
    assert_eq!(lost.len(), PREKEY_BATCH as usize);
    assert_eq!(net.prekey_count(&bob.jid), 0);

    // After the restart the check finds the server still empty and uploads a
    // new batch: none of its ids is one of the stored-but-never-uploaded ones.
    let device = bob.device();
    assert!(device.next_pre_key_id > *lost.iter().max().expect("ids"));
    bob.messenger = Messenger::new(
        OwnDevice::from_device(&device).expect("registered"),
        [3; 32],
    );
    let job = bob.messenger.refill_prekeys(false, &device);
    let uploaded = run_prekey_job(&mut bob, &mut net, job, false);
    assert_eq!(uploaded.len(), PREKEY_BATCH as usize);
    assert!(
        uploaded.iter().all(|id| !lost.contains(id)),
        "an id of the lost batch was uploaded again"
    );
    assert_eq!(net.prekey_count(&bob.jid), PREKEY_BATCH as usize);
    // The new keys work: a contact starts a session from one.
    let mut alice = Party::join(&mut net, "15550001", 0, 74);
    alice.send_text(&mut net, &Jid::pn("15550002"), "after the crash");
    assert_eq!(texts(&bob.receive_all(&mut net)), ["after the crash"]);
}

#[test]
fn a_retry_from_a_device_whose_session_lives_under_its_lid_repairs_that_session() {
    use wa_core::message::SignalAddress;
    use wa_core::store::SignalStore;
    use wa_core::testing::network::Addressing;
    let mut net = Network::new();
    net.set_lid("15550002", "900002");
    net.addressing = Addressing::PnWithLid;
    let mut alice = Party::join(&mut net, "15550001", 0, 131);
    let mut bob = Party::join(&mut net, "15550002", 0, 132);
    // Bob writes first: Alice learns his LID and keeps his session under it.
    bob.send_text(&mut net, &Jid::pn("15550001"), "hi");
    assert_eq!(texts(&alice.receive_all(&mut net)), ["hi"]);
    alice.send_text(&mut net, &Jid::pn("15550002"), "hello");
    assert_eq!(texts(&bob.receive_all(&mut net)), ["hello"]);
    let lid_address = SignalAddress::of(&Jid::lid("900002")).to_string();
    assert!(
        smol::block_on(alice.store.get_session(&lid_address))
            .expect("store")
            .is_some()
    );

    // Bob loses his session with Alice; Alice's next message needs retries,
    // which name Bob's phone-number device.
    let alice_address = SignalAddress::of(&Jid::lid("900001")).to_string();
    let alice_pn_address = SignalAddress::of(&alice.jid).to_string();
    for a in [&alice_address, &alice_pn_address] {
        smol::block_on(bob.store.delete_session(a)).expect("store");
    }
    let id = alice.send_text(&mut net, &Jid::pn("15550002"), "after the loss");
    let events = settle(&mut net, &mut [&mut alice, &mut bob]);
    let got = messages(&events[1]);
    assert_eq!(got.len(), 1, "{:?}", events[1]);
    assert_eq!(got[0].id, id);
    // The repaired session is the LID one: no second session under the
    // phone number, and the conversation goes on with plain messages.
    let pn_address = SignalAddress::of(&bob.jid).to_string();
    assert!(
        smol::block_on(alice.store.get_session(&pn_address))
            .expect("store")
            .is_none(),
        "a second session under the phone number"
    );
    alice.send_text(&mut net, &Jid::pn("15550002"), "and on");
    assert_eq!(texts(&bob.receive_all(&mut net)), ["and on"]);
}
