//! After-login prekey maintenance on the test network: the signed prekey's
//! rotation when it is due (messages made with the old key still decrypt),
//! and the digest check of what the server holds.

use wa_core::binary::{Jid, Node};
use wa_core::messaging::{DigestCheck, Job, MessagingEvent, SIGNED_PREKEY_ROTATION_MS};
use wa_core::store::SignalStore;
use wa_core::testing::network::{Intercept, Network, Party, Run};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
const T0: i64 = 1_767_225_600_000; // 2026-01-01

/// Runs `job` for `party` to its end and returns what its digest check
/// found.
fn drive(party: &mut Party, net: &mut Network, job: Job) -> Option<DigestCheck> {
    drive_with(party, net, job, false)
}

/// [`drive`], answering the digest query with error 404 when `no_record`.
fn drive_with(
    party: &mut Party,
    net: &mut Network,
    job: Job,
    no_record: bool,
) -> Option<DigestCheck> {
    let run = party.run_intercepted(net, job, |iq| {
        if no_record && iq.child("digest").is_some() {
            Intercept::Answer(
                Node::new("iq")
                    .with_attr("type", "error")
                    .with_children([Node::new("error").with_attr("code", "404")]),
            )
        } else {
            Intercept::Network
        }
    });
    match run {
        Run::Finished(_, Job::PreKeys(job)) => job.digest_check(),
        _ => None,
    }
}

fn login(party: &mut Party, net: &mut Network, now_ms: i64) -> Option<DigestCheck> {
    let device = party.device();
    let job = party.messenger.after_login(&device, now_ms);
    drive(party, net, job)
}

fn texts(events: &[MessagingEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            MessagingEvent::Message(m) => m.message.text_content().map(str::to_owned),
            _ => None,
        })
        .collect()
}

#[test]
fn the_signed_prekey_rotates_when_due_and_old_messages_still_decrypt() {
    let mut net = Network::new();
    let mut bob = Party::join(&mut net, "15550002", 0, 81);
    let first_id = bob.device().signed_pre_key_id;

    // The first login starts the clock; the server holds what we hold.
    assert_eq!(login(&mut bob, &mut net, T0), Some(DigestCheck::Match));
    assert_eq!(bob.device().last_signed_pre_key_rotation_ms, T0);
    assert_eq!(net.rotations, 0);
    // Not due yet.
    login(&mut bob, &mut net, T0 + SIGNED_PREKEY_ROTATION_MS - DAY_MS);
    assert_eq!(net.rotations, 0);
    assert_eq!(bob.device().signed_pre_key_id, first_id);

    // Alice starts a session from the old bundle; Bob reads it only after
    // his key rotated.
    let mut alice = Party::join(&mut net, "15550001", 0, 82);
    alice.send_text(&mut net, &Jid::pn("15550002"), "made with the old key");
    let due = T0 + SIGNED_PREKEY_ROTATION_MS + 1;
    assert_eq!(login(&mut bob, &mut net, due), Some(DigestCheck::Match));
    assert_eq!(net.rotations, 1);
    let device = bob.device();
    assert_eq!(device.signed_pre_key_id, first_id + 1);
    assert_eq!(device.last_signed_pre_key_rotation_ms, due);
    assert!(
        smol::block_on(bob.store.load_signed_prekey(first_id))
            .expect("store")
            .is_some(),
        "the old signed prekey is kept"
    );
    assert_eq!(texts(&bob.receive_all(&mut net)), ["made with the old key"]);

    // A new contact gets the new key and Bob reads with it.
    let mut carol = Party::join(&mut net, "15550003", 0, 83);
    carol.send_text(&mut net, &Jid::pn("15550002"), "made with the new key");
    assert_eq!(texts(&bob.receive_all(&mut net)), ["made with the new key"]);
    // And a restart reads the rotated key from the store.
    let pending = bob.restart([5; 32]);
    assert!(pending.len() <= 2);
    let mut dave = Party::join(&mut net, "15550004", 0, 84);
    dave.send_text(&mut net, &Jid::pn("15550002"), "after a restart");
    assert_eq!(texts(&bob.receive_all(&mut net)), ["after a restart"]);
    // Not due again right away.
    login(&mut bob, &mut net, due + DAY_MS);
    assert_eq!(net.rotations, 1);
}

#[test]
fn a_server_without_our_keys_gets_them_all_again() {
    let mut net = Network::new();
    let mut bob = Party::join(&mut net, "15550002", 0, 91);
    login(&mut bob, &mut net, T0);
    // The server still counts our prekeys but answers the digest with "no
    // record": everything is uploaded again (a second batch of 812).
    let device = bob.device();
    let job = bob.messenger.after_login(&device, T0 + DAY_MS);
    assert_eq!(
        drive_with(&mut bob, &mut net, job, true),
        Some(DigestCheck::Missing)
    );
    assert_eq!(net.prekey_count(&bob.jid), 2 * 812);
    // And contacts reach Bob again.
    let mut alice = Party::join(&mut net, "15550001", 0, 92);
    alice.send_text(&mut net, &Jid::pn("15550002"), "found you");
    assert_eq!(texts(&bob.receive_all(&mut net)), ["found you"]);
}

#[test]
fn a_digest_that_does_not_match_our_keys_is_reported() {
    let mut net = Network::new();
    let mut bob = Party::join(&mut net, "15550002", 0, 93);
    login(&mut bob, &mut net, T0);
    // Bob's store loses one of the prekeys the server lists.
    smol::block_on(bob.store.remove_prekey(1)).expect("store");
    assert_eq!(
        login(&mut bob, &mut net, T0 + DAY_MS),
        Some(DigestCheck::Mismatch)
    );
}
