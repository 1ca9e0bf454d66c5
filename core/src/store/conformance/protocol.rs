//! Checks of [`ProtocolStore`]: sender-key devices, LID mappings, base keys,
//! device lists, tc tokens, sent messages.

use super::*;

/// Sender-key device tracking: sorted list, status updates, clear per group.
pub async fn protocol_sender_key_devices<S: ProtocolStore + ?Sized>(s: &S) {
    let c = Check("protocol::sender_key_devices");
    let g = "120363021033254949@g.us";
    let other = "120363021033254949@g.us2";
    c.eq(
        c.ok(s.get_sender_key_devices(g).await, "get_sender_key_devices"),
        vec![],
        "an unknown group tracks no devices",
    );
    c.ok(
        s.set_sender_key_status(g, &[]).await,
        "set_sender_key_status with no entries",
    );
    c.ok(
        s.set_sender_key_status(
            g,
            &[
                ("5511987650002:1@s.whatsapp.net", true),
                ("5511987650001:0@s.whatsapp.net", false),
                ("100000012345678:3@lid", true),
            ],
        )
        .await,
        "set_sender_key_status",
    );
    c.ok(
        s.set_sender_key_status(other, &[("5511987650009:0@s.whatsapp.net", true)])
            .await,
        "set_sender_key_status",
    );
    let want = vec![
        ("100000012345678:3@lid".to_owned(), true),
        ("5511987650001:0@s.whatsapp.net".to_owned(), false),
        ("5511987650002:1@s.whatsapp.net".to_owned(), true),
    ];
    c.eq(
        c.ok(s.get_sender_key_devices(g).await, "get_sender_key_devices"),
        want,
        "get_sender_key_devices lists every device by ascending JID",
    );
    c.ok(
        s.set_sender_key_status(
            g,
            &[
                ("5511987650001:0@s.whatsapp.net", true),
                ("5511987650002:1@s.whatsapp.net", true),
                ("5511987650002:1@s.whatsapp.net", false),
            ],
        )
        .await,
        "set_sender_key_status",
    );
    let want = vec![
        ("100000012345678:3@lid".to_owned(), true),
        ("5511987650001:0@s.whatsapp.net".to_owned(), true),
        ("5511987650002:1@s.whatsapp.net".to_owned(), false),
    ];
    c.eq(
        c.ok(s.get_sender_key_devices(g).await, "get_sender_key_devices"),
        want,
        "set_sender_key_status updates devices; the later entry for a device wins",
    );
    c.ok(
        s.clear_sender_key_devices(g).await,
        "clear_sender_key_devices",
    );
    c.eq(
        c.ok(s.get_sender_key_devices(g).await, "get_sender_key_devices"),
        vec![],
        "clear_sender_key_devices forgets the group's devices",
    );
    c.eq(
        c.ok(
            s.get_sender_key_devices(other).await,
            "get_sender_key_devices",
        ),
        vec![("5511987650009:0@s.whatsapp.net".to_owned(), true)],
        "clear_sender_key_devices leaves other groups (even ones its JID is a prefix of)",
    );
    c.ok(
        s.clear_sender_key_devices(g).await,
        "clear_sender_key_devices of an unknown group must be Ok",
    );
}

/// LID mappings: by LID and by phone, overwrite, re-mapping a LID releases
/// its old phone, `get_all_lid_mappings` by ascending LID, batch equals singles.
pub async fn protocol_lid_mappings<S: ProtocolStore + ?Sized>(s: &S) {
    let c = Check("protocol::lid_mappings");
    c.eq(
        c.ok(
            s.get_lid_mapping("100000012345678").await,
            "get_lid_mapping",
        ),
        None,
        "a missing LID has no mapping",
    );
    c.eq(
        c.ok(s.get_pn_mapping("5511987650001").await, "get_pn_mapping"),
        None,
        "a missing phone has no mapping",
    );
    let m1 = mapping("100000012345678", "5511987650001", 100);
    c.ok(s.put_lid_mapping(&m1).await, "put_lid_mapping");
    c.eq(
        c.ok(
            s.get_lid_mapping("100000012345678").await,
            "get_lid_mapping",
        ),
        Some(m1.clone()),
        "put_lid_mapping then get_lid_mapping returns it",
    );
    c.eq(
        c.ok(s.get_pn_mapping("5511987650001").await, "get_pn_mapping"),
        Some(m1.clone()),
        "put_lid_mapping then get_pn_mapping returns it",
    );
    let m1b = LidPnMappingEntry {
        learning_source: "peer_pn_message".into(),
        ..mapping("100000012345678", "5511987650001", 200)
    };
    c.ok(s.put_lid_mapping(&m1b).await, "put_lid_mapping");
    c.eq(
        c.ok(
            s.get_lid_mapping("100000012345678").await,
            "get_lid_mapping",
        ),
        Some(m1b.clone()),
        "a second put_lid_mapping for a LID replaces it",
    );
    let moved = mapping("100000012345678", "5511987650099", 300);
    c.ok(s.put_lid_mapping(&moved).await, "put_lid_mapping");
    c.eq(
        c.ok(s.get_pn_mapping("5511987650001").await, "get_pn_mapping"),
        None,
        "after a LID is re-mapped, its old phone no longer maps to it",
    );
    c.eq(
        c.ok(s.get_pn_mapping("5511987650099").await, "get_pn_mapping"),
        Some(moved.clone()),
        "after a LID is re-mapped, its new phone maps to it",
    );

    let batch = vec![
        mapping("300", "5511000000003", 10),
        mapping("100", "5511000000001", 10),
        mapping("200", "5511000000002", 10),
        mapping("100", "5511000000004", 11),
    ];
    c.ok(
        s.put_lid_mappings(&[]).await,
        "put_lid_mappings with no entries",
    );
    c.ok(s.put_lid_mappings(&batch).await, "put_lid_mappings");
    c.eq(
        c.ok(s.get_lid_mapping("100").await, "get_lid_mapping"),
        Some(batch[3].clone()),
        "in put_lid_mappings the later entry for a LID wins",
    );
    c.eq(
        c.ok(s.get_pn_mapping("5511000000001").await, "get_pn_mapping"),
        None,
        "a LID re-mapped inside one batch releases its old phone",
    );
    let all = c.ok(s.get_all_lid_mappings().await, "get_all_lid_mappings");
    c.eq(
        all,
        vec![batch[3].clone(), moved, batch[2].clone(), batch[0].clone()],
        "get_all_lid_mappings returns every mapping by ascending LID",
    );
}

/// `get_pn_mapping` returns the newest mapping of a phone: largest
/// `updated_at` whatever the write order, ties broken by the larger LID.
pub async fn protocol_pn_mapping_newest_wins<S: ProtocolStore + ?Sized>(s: &S) {
    let c = Check("protocol::pn_mapping_newest_wins");
    let phone = "5511987650001";
    let old = mapping("100000000000001", phone, 1_000);
    let new = mapping("100000000000002", phone, 2_000);
    c.ok(s.put_lid_mapping(&old).await, "put_lid_mapping");
    c.ok(s.put_lid_mapping(&new).await, "put_lid_mapping");
    c.eq(
        c.ok(s.get_pn_mapping(phone).await, "get_pn_mapping"),
        Some(new.clone()),
        "get_pn_mapping returns the mapping with the largest updated_at",
    );
    let older_written_last = mapping("100000000000003", phone, 1_500);
    c.ok(
        s.put_lid_mapping(&older_written_last).await,
        "put_lid_mapping",
    );
    c.eq(
        c.ok(s.get_pn_mapping(phone).await, "get_pn_mapping"),
        Some(new.clone()),
        "an older mapping written later does not win (newest by updated_at, not by write order)",
    );
    let tie_small = mapping("100000000000000", phone, 2_000);
    c.ok(s.put_lid_mapping(&tie_small).await, "put_lid_mapping");
    c.eq(
        c.ok(s.get_pn_mapping(phone).await, "get_pn_mapping"),
        Some(new.clone()),
        "on equal updated_at the larger LID wins",
    );
    let tie_large = mapping("100000000000009", phone, 2_000);
    c.ok(s.put_lid_mapping(&tie_large).await, "put_lid_mapping");
    c.eq(
        c.ok(s.get_pn_mapping(phone).await, "get_pn_mapping"),
        Some(tie_large.clone()),
        "on equal updated_at the larger LID wins",
    );
    let moved = mapping("100000000000009", "5511987650777", 5_000);
    c.ok(s.put_lid_mapping(&moved).await, "put_lid_mapping");
    c.eq(
        c.ok(s.get_pn_mapping(phone).await, "get_pn_mapping"),
        Some(new),
        "when the newest LID moves to another phone, the next newest answers",
    );
}

/// Base keys: saved and compared per `(address, message_id)`, overwrite,
/// delete, delete missing, composite keys never collide.
pub async fn protocol_base_keys<S: ProtocolStore + ?Sized>(s: &S) {
    let c = Check("protocol::base_keys");
    let (a, m) = ("5511987650001.0", "3EB0A1B2C3");
    c.eq(
        c.ok(s.has_same_base_key(a, m, b"k1").await, "has_same_base_key"),
        false,
        "has_same_base_key is false when nothing was saved",
    );
    c.ok(s.save_base_key(a, m, b"k1").await, "save_base_key");
    c.eq(
        c.ok(s.has_same_base_key(a, m, b"k1").await, "has_same_base_key"),
        true,
        "has_same_base_key is true for the saved key",
    );
    c.eq(
        c.ok(s.has_same_base_key(a, m, b"k2").await, "has_same_base_key"),
        false,
        "has_same_base_key is false for a different key",
    );
    c.eq(
        c.ok(s.has_same_base_key(a, m, b"k").await, "has_same_base_key"),
        false,
        "has_same_base_key compares whole keys, not prefixes",
    );
    c.ok(s.save_base_key(a, m, b"k2").await, "save_base_key");
    c.eq(
        c.ok(s.has_same_base_key(a, m, b"k2").await, "has_same_base_key"),
        true,
        "a second save_base_key replaces the key",
    );
    c.eq(
        c.ok(s.has_same_base_key(a, m, b"k1").await, "has_same_base_key"),
        false,
        "a second save_base_key replaces the key",
    );
    c.ok(s.save_base_key("a", "b:c", b"x").await, "save_base_key");
    c.ok(s.save_base_key("a:b", "c", b"y").await, "save_base_key");
    c.ok(s.save_base_key("a\0b", "c", b"z").await, "save_base_key");
    c.ok(s.save_base_key("a", "b\0c", b"w").await, "save_base_key");
    c.eq(
        c.ok(
            s.has_same_base_key("a", "b:c", b"x").await,
            "has_same_base_key",
        ),
        true,
        "composite (address, message_id) keys never collide",
    );
    c.eq(
        c.ok(
            s.has_same_base_key("a:b", "c", b"y").await,
            "has_same_base_key",
        ),
        true,
        "composite (address, message_id) keys never collide",
    );
    c.eq(
        c.ok(
            s.has_same_base_key("a\0b", "c", b"z").await,
            "has_same_base_key",
        ),
        true,
        "composite (address, message_id) keys never collide",
    );
    c.eq(
        c.ok(
            s.has_same_base_key("a", "b\0c", b"w").await,
            "has_same_base_key",
        ),
        true,
        "composite (address, message_id) keys never collide",
    );
    c.ok(s.delete_base_key(a, m).await, "delete_base_key");
    c.eq(
        c.ok(s.has_same_base_key(a, m, b"k2").await, "has_same_base_key"),
        false,
        "delete_base_key removes the key",
    );
    c.ok(
        s.delete_base_key(a, m).await,
        "delete_base_key of a missing key must be Ok",
    );
    c.eq(
        c.ok(
            s.has_same_base_key("a", "b:c", b"x").await,
            "has_same_base_key",
        ),
        true,
        "delete_base_key leaves other keys",
    );
}

/// Device lists: round trip, overwrite, delete, delete missing.
pub async fn protocol_device_lists<S: ProtocolStore + ?Sized>(s: &S) {
    let c = Check("protocol::device_lists");
    let record = |user: &str, n: u16| DeviceListRecord {
        user: user.into(),
        devices: (0..n)
            .map(|d| DeviceInfo::new(d, (d > 0).then_some(u32::from(d) * 10)).with_hosting(d == 2))
            .collect(),
        timestamp: 1_700_000_000 + i64::from(n),
        phash: (n > 1).then(|| format!("2:{n}")),
        raw_id: (n > 2).then_some(77),
    };
    c.eq(
        c.ok(s.get_devices("5511987650001").await, "get_devices"),
        None,
        "an unknown user has no device list",
    );
    c.ok(
        s.update_device_list(record("5511987650001", 3)).await,
        "update_device_list",
    );
    c.ok(
        s.update_device_list(record("100000012345678", 0)).await,
        "update_device_list",
    );
    c.eq(
        c.ok(s.get_devices("5511987650001").await, "get_devices"),
        Some(record("5511987650001", 3)),
        "update_device_list then get_devices returns the record",
    );
    c.eq(
        c.ok(s.get_devices("100000012345678").await, "get_devices"),
        Some(record("100000012345678", 0)),
        "an empty device list is stored, not treated as missing",
    );
    c.ok(
        s.update_device_list(record("5511987650001", 5)).await,
        "update_device_list",
    );
    c.eq(
        c.ok(s.get_devices("5511987650001").await, "get_devices"),
        Some(record("5511987650001", 5)),
        "a second update_device_list replaces the record",
    );
    c.ok(s.delete_devices("5511987650001").await, "delete_devices");
    c.eq(
        c.ok(s.get_devices("5511987650001").await, "get_devices"),
        None,
        "delete_devices removes the record",
    );
    c.ok(
        s.delete_devices("5511987650001").await,
        "delete_devices of a missing user must be Ok",
    );
    c.eq(
        c.ok(s.get_devices("100000012345678").await, "get_devices"),
        Some(record("100000012345678", 0)),
        "delete_devices leaves other users",
    );
}

/// Trusted-contact tokens: round trip, overwrite, delete, delete missing,
/// `get_all_tc_token_jids` ascending.
pub async fn protocol_tc_tokens<S: ProtocolStore + ?Sized>(s: &S) {
    let c = Check("protocol::tc_tokens");
    let j1 = "100000012345678@lid";
    let j2 = "100000012345677@lid";
    c.eq(
        c.ok(s.get_tc_token(j1).await, "get_tc_token"),
        None,
        "a missing token reads as None",
    );
    c.eq(
        c.ok(s.get_all_tc_token_jids().await, "get_all_tc_token_jids"),
        Vec::<String>::new(),
        "no token JIDs at first",
    );
    c.ok(
        s.put_tc_token(j1, &tc(b"tok1", 100, None)).await,
        "put_tc_token",
    );
    c.ok(
        s.put_tc_token(j2, &tc(b"", 50, Some(60))).await,
        "put_tc_token",
    );
    c.eq(
        c.ok(s.get_tc_token(j1).await, "get_tc_token"),
        Some(tc(b"tok1", 100, None)),
        "put_tc_token then get_tc_token returns the entry",
    );
    c.eq(
        c.ok(s.get_tc_token(j2).await, "get_tc_token"),
        Some(tc(b"", 50, Some(60))),
        "a placeholder entry with an empty token is stored",
    );
    c.ok(
        s.put_tc_token(j1, &tc(b"tok1b", 200, Some(150))).await,
        "put_tc_token",
    );
    c.eq(
        c.ok(s.get_tc_token(j1).await, "get_tc_token"),
        Some(tc(b"tok1b", 200, Some(150))),
        "a second put_tc_token replaces the entry",
    );
    c.eq(
        c.ok(s.get_all_tc_token_jids().await, "get_all_tc_token_jids"),
        vec![j2.to_owned(), j1.to_owned()],
        "get_all_tc_token_jids lists every JID ascending",
    );
    c.ok(s.delete_tc_token(j1).await, "delete_tc_token");
    c.eq(
        c.ok(s.get_tc_token(j1).await, "get_tc_token"),
        None,
        "delete_tc_token removes the entry",
    );
    c.ok(
        s.delete_tc_token(j1).await,
        "delete_tc_token of a missing JID must be Ok",
    );
    c.eq(
        c.ok(s.get_all_tc_token_jids().await, "get_all_tc_token_jids"),
        vec![j2.to_owned()],
        "delete_tc_token leaves other JIDs",
    );
}

/// `delete_expired_tc_tokens` deletes exactly the rows with nothing live,
/// keeps rows stamped exactly at a cut-off, and counts what it deleted.
pub async fn protocol_tc_token_expiry<S: ProtocolStore + ?Sized>(s: &S) {
    let c = Check("protocol::tc_token_expiry");
    let (tc_cut, sender_cut) = (1_000, 2_000);
    // (jid, entry, survives)
    let rows = [
        ("token_before", tc(b"t", 999, None), false),
        ("token_at", tc(b"t", 1_000, None), true),
        ("token_after", tc(b"t", 1_001, None), true),
        ("empty_token_fresh", tc(b"", 5_000, None), false),
        ("sender_before", tc(b"t", 999, Some(1_999)), false),
        ("sender_at", tc(b"t", 999, Some(2_000)), true),
        ("sender_after_placeholder", tc(b"", 0, Some(2_001)), true),
        ("both_old", tc(b"", 0, Some(0)), false),
    ];
    for (jid, entry, _) in &rows {
        c.ok(s.put_tc_token(jid, entry).await, "put_tc_token");
    }
    let deleted = c.ok(
        s.delete_expired_tc_tokens(tc_cut, sender_cut).await,
        "delete_expired_tc_tokens",
    );
    for (jid, entry, survives) in &rows {
        let got = c.ok(s.get_tc_token(jid).await, "get_tc_token");
        let contract = format!(
            "token row {jid:?} with token_cutoff {tc_cut}, sender_cutoff {sender_cut} must be {} (kept when a non-empty token has token_timestamp >= token_cutoff or sender_timestamp >= sender_cutoff)",
            if *survives { "kept" } else { "deleted" }
        );
        c.eq(got, survives.then(|| entry.clone()), &contract);
    }
    c.eq(
        deleted,
        rows.iter().filter(|r| !r.2).count() as u32,
        "delete_expired_tc_tokens returns the number of rows it deleted",
    );
    c.eq(
        c.ok(
            s.delete_expired_tc_tokens(tc_cut, sender_cut).await,
            "delete_expired_tc_tokens",
        ),
        0,
        "a second sweep with the same cut-offs deletes nothing",
    );
}

/// Sent messages: take returns the payload once, overwrite, empty payload,
/// composite keys never collide.
pub async fn protocol_sent_messages<S: ProtocolStore + ?Sized>(s: &S) {
    let c = Check("protocol::sent_messages");
    let chat = "120363021033254949@g.us";
    c.eq(
        c.ok(s.take_sent_message(chat, "A").await, "take_sent_message"),
        None,
        "taking a missing message returns None",
    );
    c.ok(
        s.store_sent_message(chat, "A", b"payload-a", 100).await,
        "store_sent_message",
    );
    c.eq(
        c.ok(s.take_sent_message(chat, "A").await, "take_sent_message"),
        Some(b"payload-a".to_vec()),
        "take_sent_message returns the stored payload",
    );
    c.eq(
        c.ok(s.take_sent_message(chat, "A").await, "take_sent_message"),
        None,
        "take_sent_message returns a payload only once",
    );
    c.ok(
        s.store_sent_message(chat, "B", b"old", 100).await,
        "store_sent_message",
    );
    c.ok(
        s.store_sent_message(chat, "B", b"new", 101).await,
        "store_sent_message",
    );
    c.eq(
        c.ok(s.take_sent_message(chat, "B").await, "take_sent_message"),
        Some(b"new".to_vec()),
        "a second store_sent_message replaces the payload",
    );
    c.eq(
        c.ok(s.take_sent_message(chat, "B").await, "take_sent_message"),
        None,
        "a replaced message is still taken once",
    );
    c.ok(
        s.store_sent_message(chat, "E", b"", 100).await,
        "store_sent_message",
    );
    c.eq(
        c.ok(s.take_sent_message(chat, "E").await, "take_sent_message"),
        Some(vec![]),
        "an empty payload is Some(empty), not None",
    );
    c.ok(
        s.store_sent_message("a", "b:c", b"1", 100).await,
        "store_sent_message",
    );
    c.ok(
        s.store_sent_message("a:b", "c", b"2", 100).await,
        "store_sent_message",
    );
    c.ok(
        s.store_sent_message("a\0b", "c", b"3", 100).await,
        "store_sent_message",
    );
    c.eq(
        c.ok(s.take_sent_message("a:b", "c").await, "take_sent_message"),
        Some(b"2".to_vec()),
        "composite (chat, message_id) keys never collide",
    );
    c.eq(
        c.ok(s.take_sent_message("a", "b:c").await, "take_sent_message"),
        Some(b"1".to_vec()),
        "composite (chat, message_id) keys never collide",
    );
    c.eq(
        c.ok(s.take_sent_message("a\0b", "c").await, "take_sent_message"),
        Some(b"3".to_vec()),
        "composite (chat, message_id) keys never collide",
    );
    let big = pattern(5, LARGE);
    c.ok(
        s.store_sent_message(chat, "BIG", &big, 100).await,
        "store_sent_message of 4 MiB",
    );
    let got = c.ok(s.take_sent_message(chat, "BIG").await, "take_sent_message");
    c.same(&got, &Some(big), "a 4 MiB payload round-trips");
}

/// `delete_expired_sent_messages(cutoff)` deletes exactly the rows with
/// `sent_at < cutoff`, keeps the row stamped at `cutoff`, and counts.
pub async fn protocol_sent_message_expiry<S: ProtocolStore + ?Sized>(s: &S) {
    let c = Check("protocol::sent_message_expiry");
    let chat = "5511987650001@s.whatsapp.net";
    let cutoff = 1_700_000_000;
    let rows = [
        ("min", i64::MIN, false),
        ("long_ago", cutoff - 86_400, false),
        ("just_before", cutoff - 1, false),
        ("at", cutoff, true),
        ("just_after", cutoff + 1, true),
        ("max", i64::MAX, true),
    ];
    for (id, sent_at, _) in rows {
        c.ok(
            s.store_sent_message(chat, id, id.as_bytes(), sent_at).await,
            "store_sent_message",
        );
    }
    let deleted = c.ok(
        s.delete_expired_sent_messages(cutoff).await,
        "delete_expired_sent_messages",
    );
    c.eq(
        deleted,
        3,
        "delete_expired_sent_messages returns the number of rows with sent_at < cutoff",
    );
    c.eq(
        c.ok(
            s.delete_expired_sent_messages(cutoff).await,
            "delete_expired_sent_messages",
        ),
        0,
        "a second sweep with the same cut-off deletes nothing",
    );
    for (id, _, survives) in rows {
        let contract = format!(
            "message {id:?} must be {} by a sweep at {cutoff} (rows with sent_at < cutoff are deleted; sent_at == cutoff is kept)",
            if survives { "kept" } else { "deleted" }
        );
        c.eq(
            c.ok(s.take_sent_message(chat, id).await, "take_sent_message"),
            survives.then(|| id.as_bytes().to_vec()),
            &contract,
        );
    }
}

/// 16 concurrent `take_sent_message` calls for one message: exactly one gets
/// the payload. Then 16 messages with 2 concurrent takers each.
pub async fn protocol_sent_message_take_once<S: ProtocolStore + ?Sized>(s: &S) {
    let c = Check("protocol::sent_message_take_once");
    let chat = "120363021033254949@g.us";
    for round in 0..4u8 {
        let id = format!("RACE{round}");
        c.ok(
            s.store_sent_message(chat, &id, &pattern(round, 64), 100)
                .await,
            "store_sent_message",
        );
        let takers: Vec<_> = (0..16).map(|_| s.take_sent_message(chat, &id)).collect();
        let results: Vec<Option<Vec<u8>>> = join_all(takers)
            .await
            .into_iter()
            .map(|r| c.ok(r, "take_sent_message (concurrent)"))
            .collect();
        let winners: Vec<&Vec<u8>> = results.iter().flatten().collect();
        c.eq(
            winners.len(),
            1,
            "of 16 concurrent take_sent_message calls exactly one gets the payload",
        );
        c.eq(
            winners[0].clone(),
            pattern(round, 64),
            "the one concurrent taker gets the stored payload",
        );
    }
    let ids: Vec<String> = (0..16).map(|i| format!("M{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        c.ok(
            s.store_sent_message(chat, id, &[i as u8], 100).await,
            "store_sent_message",
        );
    }
    let takers: Vec<_> = ids
        .iter()
        .flat_map(|id| [s.take_sent_message(chat, id), s.take_sent_message(chat, id)])
        .collect();
    let results: Vec<Option<Vec<u8>>> = join_all(takers)
        .await
        .into_iter()
        .map(|r| c.ok(r, "take_sent_message (concurrent)"))
        .collect();
    for (i, pair) in results.chunks(2).enumerate() {
        let got: Vec<&Vec<u8>> = pair.iter().flatten().collect();
        c.eq(
            got,
            vec![&vec![i as u8]],
            "each of 16 messages taken concurrently twice is handed out exactly once",
        );
    }
}

/// Empty, Unicode and prefix keys for LID mappings, device lists, tokens and
/// sender-key groups.
pub async fn protocol_key_edge_cases<S: ProtocolStore + ?Sized>(s: &S) {
    let c = Check("protocol::key_edge_cases");
    for (i, key) in TRICKY_KEYS.iter().enumerate() {
        let n = i as i64;
        c.ok(
            s.put_lid_mapping(&mapping(key, key, n)).await,
            "put_lid_mapping",
        );
        c.ok(
            s.update_device_list(DeviceListRecord {
                user: (*key).into(),
                devices: vec![DeviceInfo::new(i as u16, None)],
                timestamp: n,
                phash: None,
                raw_id: None,
            })
            .await,
            "update_device_list",
        );
        c.ok(
            s.put_tc_token(key, &tc(key.as_bytes(), n, None)).await,
            "put_tc_token",
        );
        c.ok(
            s.set_sender_key_status(key, &[(key, i % 2 == 0)]).await,
            "set_sender_key_status",
        );
    }
    for (i, key) in TRICKY_KEYS.iter().enumerate() {
        let n = i as i64;
        let what = format!(
            "key {key:?} keeps its own value (empty, Unicode and prefix keys are distinct keys)"
        );
        c.eq(
            c.ok(s.get_lid_mapping(key).await, "get_lid_mapping"),
            Some(mapping(key, key, n)),
            &what,
        );
        c.eq(
            c.ok(s.get_pn_mapping(key).await, "get_pn_mapping"),
            Some(mapping(key, key, n)),
            &what,
        );
        c.eq(
            c.ok(s.get_devices(key).await, "get_devices")
                .map(|r| r.devices),
            Some(vec![DeviceInfo::new(i as u16, None)]),
            &what,
        );
        c.eq(
            c.ok(s.get_tc_token(key).await, "get_tc_token"),
            Some(tc(key.as_bytes(), n, None)),
            &what,
        );
        c.eq(
            c.ok(
                s.get_sender_key_devices(key).await,
                "get_sender_key_devices",
            ),
            vec![((*key).to_owned(), i % 2 == 0)],
            &what,
        );
    }
    let mut sorted: Vec<String> = TRICKY_KEYS.iter().map(|k| (*k).to_owned()).collect();
    sorted.sort();
    c.eq(
        c.ok(s.get_all_tc_token_jids().await, "get_all_tc_token_jids"),
        sorted.clone(),
        "get_all_tc_token_jids is in byte order, the empty JID first",
    );
    let lids: Vec<String> = c
        .ok(s.get_all_lid_mappings().await, "get_all_lid_mappings")
        .into_iter()
        .map(|m| m.lid)
        .collect();
    c.eq(
        lids,
        sorted,
        "get_all_lid_mappings is in byte order of LID, the empty LID first",
    );
}
