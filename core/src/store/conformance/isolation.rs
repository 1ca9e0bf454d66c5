//! The isolation check: two device ids on one storage never see each
//! other's rows.

use super::*;

const ADDR: &str = "5511987650001.0";
const GROUP: &str = "120363021033254949@g.us";
const CHAT: &str = "5511987650001@s.whatsapp.net";

/// Rows written through one device id are invisible through another, and
/// deletes, clears, takes and sweeps through one never touch the other.
pub async fn isolation_between_device_ids<S: Backend + ?Sized>(a: &S, b: &S) {
    let c = Check("isolation::between_device_ids");
    fill(&c, a).await;
    assert_invisible(&c, b).await;
    overwrite_and_destroy(&c, a, b).await;
    assert_kept(&c, a, b).await;
}

/// Writes a row of every family through `a`.
async fn fill<S: Backend + ?Sized>(c: &Check, a: &S) {
    // Fill every family through `a`.
    c.ok(a.put_identity(ADDR, [1; 32]).await, "put_identity");
    c.ok(a.put_session(ADDR, b"sa").await, "put_session");
    c.ok(a.store_prekey(5, b"pa", false).await, "store_prekey");
    c.ok(
        a.store_signed_prekey(1, b"spa").await,
        "store_signed_prekey",
    );
    c.ok(a.put_sender_key(ADDR, b"ska").await, "put_sender_key");
    c.ok(
        a.set_sync_key(
            b"k",
            AppStateSyncKey {
                key_data: vec![1],
                fingerprint: vec![],
                timestamp: 1,
            },
        )
        .await,
        "set_sync_key",
    );
    c.ok(a.set_version("regular", hash_state(1)).await, "set_version");
    c.ok(
        a.put_mutation_macs("regular", 1, &[mac(b"i", b"va")]).await,
        "put_mutation_macs",
    );
    c.ok(
        a.set_sender_key_status(GROUP, &[(CHAT, true)]).await,
        "set_sender_key_status",
    );
    c.ok(
        a.put_lid_mapping(&mapping("100", "5511", 1)).await,
        "put_lid_mapping",
    );
    c.ok(a.save_base_key(ADDR, "m", b"ba").await, "save_base_key");
    c.ok(
        a.update_device_list(DeviceListRecord {
            user: "5511".into(),
            devices: vec![],
            timestamp: 1,
            phash: None,
            raw_id: None,
        })
        .await,
        "update_device_list",
    );
    c.ok(
        a.put_tc_token(CHAT, &tc(b"ta", 10, None)).await,
        "put_tc_token",
    );
    c.ok(
        a.store_sent_message(CHAT, "m", b"pa", 10).await,
        "store_sent_message",
    );
    c.ok(a.save(&full_device(1)).await, "save");
}

/// None of `fill`'s rows shows through `b`.
async fn assert_invisible<S: Backend + ?Sized>(c: &Check, b: &S) {
    let none = "rows written for one device id must be invisible to another";
    c.eq(
        c.ok(b.load_identity(ADDR).await, "load_identity"),
        None,
        none,
    );
    c.eq(c.ok(b.get_session(ADDR).await, "get_session"), None, none);
    c.eq(c.ok(b.has_session(ADDR).await, "has_session"), false, none);
    c.eq(c.ok(b.load_prekey(5).await, "load_prekey"), None, none);
    c.eq(
        c.ok(b.load_prekeys_batch(&[5]).await, "load_prekeys_batch"),
        vec![],
        none,
    );
    c.eq(
        c.ok(b.get_max_prekey_id().await, "get_max_prekey_id"),
        0,
        none,
    );
    c.eq(
        c.ok(b.load_all_signed_prekeys().await, "load_all_signed_prekeys"),
        vec![],
        none,
    );
    c.eq(
        c.ok(b.get_sender_key(ADDR).await, "get_sender_key"),
        None,
        none,
    );
    c.eq(c.ok(b.get_sync_key(b"k").await, "get_sync_key"), None, none);
    c.eq(
        c.ok(b.get_latest_sync_key_id().await, "get_latest_sync_key_id"),
        None,
        none,
    );
    c.eq(
        c.ok(b.get_version("regular").await, "get_version"),
        None,
        none,
    );
    c.eq(
        c.ok(
            b.get_mutation_mac("regular", b"i").await,
            "get_mutation_mac",
        ),
        None,
        none,
    );
    c.eq(
        c.ok(
            b.get_sender_key_devices(GROUP).await,
            "get_sender_key_devices",
        ),
        vec![],
        none,
    );
    c.eq(
        c.ok(b.get_lid_mapping("100").await, "get_lid_mapping"),
        None,
        none,
    );
    c.eq(
        c.ok(b.get_pn_mapping("5511").await, "get_pn_mapping"),
        None,
        none,
    );
    c.eq(
        c.ok(b.get_all_lid_mappings().await, "get_all_lid_mappings"),
        vec![],
        none,
    );
    c.eq(
        c.ok(
            b.has_same_base_key(ADDR, "m", b"ba").await,
            "has_same_base_key",
        ),
        false,
        none,
    );
    c.eq(c.ok(b.get_devices("5511").await, "get_devices"), None, none);
    c.eq(c.ok(b.get_tc_token(CHAT).await, "get_tc_token"), None, none);
    c.eq(
        c.ok(b.get_all_tc_token_jids().await, "get_all_tc_token_jids"),
        Vec::<String>::new(),
        none,
    );
    c.eq(
        c.ok(b.take_sent_message(CHAT, "m").await, "take_sent_message"),
        None,
        none,
    );
    c.eq(c.ok(b.exists().await, "exists"), false, none);
    c.eq(c.ok(b.load().await, "load"), None, none);
}

/// Writes the same keys with other values through `b` (checking `a` keeps
/// its own), then deletes, clears, takes and sweeps everything through `b`.
async fn overwrite_and_destroy<S: Backend + ?Sized>(c: &Check, a: &S, b: &S) {
    // Same keys, other values through `b`; then destroy everything through `b`.
    c.ok(b.put_session(ADDR, b"sb").await, "put_session");
    c.ok(b.store_prekey(5, b"pb", true).await, "store_prekey");
    c.ok(
        b.put_lid_mapping(&mapping("100", "5511", 2)).await,
        "put_lid_mapping",
    );
    c.ok(b.save(&full_device(2)).await, "save");
    c.eq(
        c.ok(a.get_session(ADDR).await, "get_session"),
        Some(Bytes::from_static(b"sa")),
        "a write for one device id must not replace another's row",
    );
    c.eq(
        c.ok(a.load().await, "load"),
        Some(full_device(1)),
        "a write for one device id must not replace another's device",
    );
    c.ok(b.delete_identity(ADDR).await, "delete_identity");
    c.ok(b.delete_session(ADDR).await, "delete_session");
    c.ok(b.remove_prekey(5).await, "remove_prekey");
    c.ok(b.mark_prekeys_uploaded(&[5]).await, "mark_prekeys_uploaded");
    c.ok(b.remove_signed_prekey(1).await, "remove_signed_prekey");
    c.ok(b.delete_sender_key(ADDR).await, "delete_sender_key");
    c.ok(b.delete_version("regular").await, "delete_version");
    c.ok(
        b.delete_mutation_macs("regular", &[b"i".to_vec()]).await,
        "delete_mutation_macs",
    );
    c.ok(
        b.clear_mutation_macs("regular").await,
        "clear_mutation_macs",
    );
    c.ok(
        b.clear_sender_key_devices(GROUP).await,
        "clear_sender_key_devices",
    );
    c.ok(b.delete_base_key(ADDR, "m").await, "delete_base_key");
    c.ok(b.delete_devices("5511").await, "delete_devices");
    c.ok(b.delete_tc_token(CHAT).await, "delete_tc_token");
    c.eq(
        c.ok(
            b.delete_expired_tc_tokens(i64::MAX, i64::MAX).await,
            "delete_expired_tc_tokens",
        ),
        0,
        "a sweep for one device id must not count another's rows",
    );
    c.eq(
        c.ok(
            b.delete_expired_sent_messages(i64::MAX).await,
            "delete_expired_sent_messages",
        ),
        0,
        "a sweep for one device id must not count another's rows",
    );
}

/// `fill`'s rows are all still there through `a`; `b` keeps its own device.
async fn assert_kept<S: Backend + ?Sized>(c: &Check, a: &S, b: &S) {
    let kept = "deletes, clears and sweeps for one device id must not touch another's rows";
    c.eq(
        c.ok(a.load_identity(ADDR).await, "load_identity"),
        Some([1; 32]),
        kept,
    );
    c.eq(
        c.ok(a.get_session(ADDR).await, "get_session"),
        Some(Bytes::from_static(b"sa")),
        kept,
    );
    c.eq(
        c.ok(a.load_prekey(5).await, "load_prekey"),
        Some(Bytes::from_static(b"pa")),
        kept,
    );
    c.eq(
        c.ok(a.is_prekey_uploaded(5).await, "is_prekey_uploaded"),
        Some(false),
        kept,
    );
    c.eq(
        c.ok(a.load_signed_prekey(1).await, "load_signed_prekey"),
        Some(b"spa".to_vec()),
        kept,
    );
    c.eq(
        c.ok(a.get_sender_key(ADDR).await, "get_sender_key"),
        Some(b"ska".to_vec()),
        kept,
    );
    c.eq(
        c.ok(a.get_version("regular").await, "get_version"),
        Some(hash_state(1)),
        kept,
    );
    c.eq(
        c.ok(
            a.get_mutation_mac("regular", b"i").await,
            "get_mutation_mac",
        ),
        Some(b"va".to_vec()),
        kept,
    );
    c.eq(
        c.ok(
            a.get_sender_key_devices(GROUP).await,
            "get_sender_key_devices",
        ),
        vec![(CHAT.to_owned(), true)],
        kept,
    );
    c.eq(
        c.ok(a.get_pn_mapping("5511").await, "get_pn_mapping"),
        Some(mapping("100", "5511", 1)),
        kept,
    );
    c.eq(
        c.ok(
            a.has_same_base_key(ADDR, "m", b"ba").await,
            "has_same_base_key",
        ),
        true,
        kept,
    );
    c.eq(
        c.ok(a.get_devices("5511").await, "get_devices").is_some(),
        true,
        kept,
    );
    c.eq(
        c.ok(a.get_tc_token(CHAT).await, "get_tc_token"),
        Some(tc(b"ta", 10, None)),
        kept,
    );
    c.eq(
        c.ok(a.take_sent_message(CHAT, "m").await, "take_sent_message"),
        Some(b"pa".to_vec()),
        kept,
    );
    c.eq(
        c.ok(a.get_latest_sync_key_id().await, "get_latest_sync_key_id"),
        Some(b"k".to_vec()),
        kept,
    );
    c.eq(
        c.ok(b.load().await, "load"),
        Some(full_device(2)),
        "each device id keeps its own device",
    );
}
