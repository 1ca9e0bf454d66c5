//! Group messaging with sender keys on the stanza-level test network: a group
//! of 5 accounts with 2–3 devices each; distributions only to devices that
//! lack the key (marked after the server's ack); members added and removed;
//! a backlog of group messages while offline.

use wa_core::binary::Jid;
use wa_core::messaging::{MessagingEvent, ReceivedMessage};
use wa_core::store::ProtocolStore;
use wa_core::testing::network::{Network, Party};

fn group() -> Jid {
    "120363000000000001@g.us".parse().expect("group jid")
}

fn messages(events: &[MessagingEvent]) -> Vec<ReceivedMessage> {
    events
        .iter()
        .filter_map(|e| match e {
            MessagingEvent::Message(m) => Some((**m).clone()),
            _ => None,
        })
        .collect()
}

/// 5 accounts (`1555000000<n>`), devices 0, 1 (and 2 for odd n).
fn five_accounts(net: &mut Network) -> Vec<Vec<Party>> {
    (1..=5u16)
        .map(|n| {
            let devices = if n % 2 == 1 { 3 } else { 2 };
            (0..devices)
                .map(|d| {
                    Party::join(
                        net,
                        &format!("1555000000{n}"),
                        d,
                        u64::from(n) * 10 + u64::from(d),
                    )
                })
                .collect()
        })
        .collect()
}

fn users(accounts: &[Vec<Party>]) -> Vec<Jid> {
    accounts.iter().map(|a| a[0].jid.to_non_ad()).collect()
}

/// Every device handles what is queued for it, until the network is quiet;
/// returns each device's events (same shape as `accounts`).
fn settle(net: &mut Network, accounts: &mut [Vec<Party>]) -> Vec<Vec<Vec<MessagingEvent>>> {
    let mut all: Vec<Vec<Vec<MessagingEvent>>> = accounts
        .iter()
        .map(|a| a.iter().map(|_| Vec::new()).collect())
        .collect();
    loop {
        let mut quiet = true;
        for (i, account) in accounts.iter_mut().enumerate() {
            for (j, party) in account.iter_mut().enumerate() {
                if net.queued(&party.jid) > 0 {
                    quiet = false;
                    all[i][j].extend(party.receive_all(net));
                }
            }
        }
        if quiet {
            return all;
        }
    }
}

#[test]
fn every_device_of_every_member_reads_the_group_and_keys_are_distributed_once() {
    let mut net = Network::new();
    let mut accounts = five_accounts(&mut net);
    net.set_group(&group(), &users(&accounts));

    let id = accounts[0][0].send_text(&mut net, &group(), "hello group");
    let events = settle(&mut net, &mut accounts);
    for (i, account) in events.iter().enumerate() {
        for (j, device_events) in account.iter().enumerate() {
            if (i, j) == (0, 0) {
                continue;
            }
            let got = messages(device_events);
            assert_eq!(got.len(), 1, "account {i} device {j}: {device_events:?}");
            assert_eq!(got[0].id, id);
            assert_eq!(got[0].chat, group());
            assert_eq!(got[0].sender, accounts[0][0].jid);
            assert_eq!(got[0].message.text_content(), Some("hello group"));
        }
    }
    // The server acked: every device that got the key is marked.
    let marks = smol::block_on(
        accounts[0][0]
            .store
            .get_sender_key_devices(&group().to_string()),
    )
    .expect("store");
    let total_devices = 3 + 2 + 3 + 2 + 3 - 1;
    assert_eq!(marks.len(), total_devices, "{marks:?}");
    assert!(marks.iter().all(|(_, has)| *has));

    // The second message carries no distribution: nobody lacks the key.
    let before = net.answers.get("message").copied().unwrap_or(0);
    let id2 = accounts[0][0].send_text(&mut net, &group(), "second");
    assert_eq!(net.answers.get("message").copied(), Some(before + 1));
    let last = net.last_message_from(&accounts[0][0].jid).expect("sent");
    assert!(last.child("participants").is_none(), "{last}");
    let events = settle(&mut net, &mut accounts);
    let readers = events
        .iter()
        .flatten()
        .filter(|e| messages(e).iter().any(|m| m.id == id2))
        .count();
    assert_eq!(readers, total_devices);

    // Another member answers in the group with its own key.
    let reply = accounts[3][1].send_text(&mut net, &group(), "reply from 4:1");
    let events = settle(&mut net, &mut accounts);
    let readers = events
        .iter()
        .flatten()
        .filter(|e| messages(e).iter().any(|m| m.id == reply))
        .count();
    assert_eq!(readers, total_devices);
}

#[test]
fn an_added_member_gets_the_key_on_the_next_send_and_a_removed_one_forces_a_new_key() {
    let mut net = Network::new();
    let mut accounts = five_accounts(&mut net);
    let mut members = users(&accounts);
    members.pop(); // account 5 is not in the group yet
    net.set_group(&group(), &members);
    accounts[0][0].send_text(&mut net, &group(), "before 5 joins");
    let events = settle(&mut net, &mut accounts);
    assert!(events[4].iter().all(|e| messages(e).is_empty()));

    // Account 5 joins: only its devices get a distribution.
    members.push(accounts[4][0].jid.to_non_ad());
    net.set_group(&group(), &members);
    let id = accounts[0][0].send_text(&mut net, &group(), "welcome 5");
    let sent = net.last_message_from(&accounts[0][0].jid).expect("sent");
    let distributed: Vec<Jid> = sent
        .child("participants")
        .expect("distributions")
        .children_by_tag("to")
        .filter_map(|t| t.attr_jid("jid").ok())
        .collect();
    assert_eq!(distributed.len(), 3, "{distributed:?}");
    assert!(
        distributed
            .iter()
            .all(|d| d.user() == accounts[4][0].jid.user())
    );
    let events = settle(&mut net, &mut accounts);
    for device in &events[4] {
        assert_eq!(
            messages(device)
                .iter()
                .map(|m| m.id.as_str())
                .collect::<Vec<_>>(),
            [id.as_str()]
        );
    }

    // Account 2 leaves: the sender makes a new key and gives it to everyone
    // left; account 2 gets nothing more.
    members.remove(1);
    net.set_group(&group(), &members);
    let id = accounts[0][0].send_text(&mut net, &group(), "after 2 left");
    let sent = net.last_message_from(&accounts[0][0].jid).expect("sent");
    let distributed = sent
        .child("participants")
        .expect("a new key is distributed")
        .children_by_tag("to")
        .count();
    assert_eq!(distributed, 3 + 3 + 2 + 3 - 1);
    let events = settle(&mut net, &mut accounts);
    assert!(events[1].iter().all(|e| messages(e).is_empty()));
    for (i, account) in events.iter().enumerate() {
        for (j, device) in account.iter().enumerate() {
            if i == 1 || (i, j) == (0, 0) {
                continue;
            }
            assert!(
                messages(device).iter().any(|m| m.id == id),
                "account {i} device {j}: {device:?}"
            );
        }
    }
}

#[test]
fn a_backlog_of_group_messages_while_offline_arrives_once_each() {
    let mut net = Network::new();
    let mut accounts = five_accounts(&mut net);
    net.set_group(&group(), &users(&accounts));
    let mut sent = Vec::new();
    for round in 0..20 {
        let (i, j) = (round % 4, round % 2);
        sent.push(accounts[i][j].send_text(&mut net, &group(), &format!("g{round}")));
        // Everyone but account 5 is online and reads at once.
        for account in accounts.iter_mut().take(4) {
            for party in account.iter_mut() {
                party.receive_all(&mut net);
            }
        }
    }
    // Account 5's devices come online to the whole backlog.
    for party in accounts[4].iter_mut() {
        let got = messages(&party.receive_all(&mut net));
        assert_eq!(
            got.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
            sent,
            "{}",
            party.jid
        );
    }
}

#[test]
fn a_member_without_the_sender_key_asks_again_and_gets_the_message_and_the_key() {
    use wa_core::message::SignalAddress;
    use wa_core::store::SignalStore;
    let mut net = Network::new();
    let mut accounts: Vec<Vec<Party>> = (1..=3u16)
        .map(|n| {
            vec![Party::join(
                &mut net,
                &format!("1555000000{n}"),
                0,
                200 + u64::from(n),
            )]
        })
        .collect();
    net.set_group(&group(), &users(&accounts));
    accounts[0][0].send_text(&mut net, &group(), "first");
    settle(&mut net, &mut accounts);

    // Account 2 loses account 1's sender key.
    let name = SignalAddress::sender_key_name(&group(), &accounts[0][0].jid);
    smol::block_on(accounts[1][0].store.delete_sender_key(&name)).expect("store");
    let id = accounts[0][0].send_text(&mut net, &group(), "second");
    let events = settle(&mut net, &mut accounts);
    let b = &events[1][0];
    assert_eq!(
        b.iter()
            .filter(|e| matches!(e, MessagingEvent::Undecryptable { .. }))
            .count(),
        1,
        "{b:?}"
    );
    let got = messages(b);
    assert_eq!(got.len(), 1, "{b:?}");
    assert_eq!(
        (got[0].id.as_str(), got[0].chat.clone()),
        (id.as_str(), group())
    );
    assert_eq!(got[0].message.text_content(), Some("second"));

    // The next group message carries a fresh distribution for account 2
    // only, and account 2 reads it from the skmsg.
    let id = accounts[0][0].send_text(&mut net, &group(), "third");
    let sent = net.last_message_from(&accounts[0][0].jid).expect("sent");
    let to: Vec<Jid> = sent
        .child("participants")
        .expect("a distribution")
        .children_by_tag("to")
        .filter_map(|t| t.attr_jid("jid").ok())
        .collect();
    assert_eq!(to, [accounts[1][0].jid.clone()]);
    let events = settle(&mut net, &mut accounts);
    for account in events.iter().skip(1) {
        let ids: Vec<wa_core::message::MessageId> =
            messages(&account[0]).iter().map(|m| m.id.clone()).collect();
        assert_eq!(ids, std::slice::from_ref(&id));
    }
}

#[test]
fn a_device_whose_session_cannot_be_started_does_not_stop_the_others() {
    let mut net = Network::new();
    let mut accounts = five_accounts(&mut net);
    net.set_group(&group(), &users(&accounts));
    // Account 3's device 1 hands out a bundle whose signature is wrong.
    let broken = accounts[2][1].jid.clone();
    net.spoil_bundle(&broken);
    let id = accounts[0][0].send_text(&mut net, &group(), "to everyone who can");
    let sent = net.last_message_from(&accounts[0][0].jid).expect("sent");
    let to: Vec<Jid> = sent
        .child("participants")
        .expect("distributions")
        .children_by_tag("to")
        .filter_map(|t| t.attr_jid("jid").ok())
        .collect();
    assert!(!to.contains(&broken));
    assert_eq!(to.len(), 13 - 1 - 1);
    let events = settle(&mut net, &mut accounts);
    let readers = events
        .iter()
        .flatten()
        .filter(|e| messages(e).iter().any(|m| m.id == id))
        .count();
    assert_eq!(readers, 13 - 1 - 1);
}
