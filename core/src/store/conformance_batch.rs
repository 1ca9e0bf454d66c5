//! Conformance checks for [`WriteBatch`] (feature `conformance`): every
//! operation lands with the meaning of its trait method, through
//! [`apply_batch`], whether or not the backend applies batches atomically.
//! Backends that declare atomic batches are also checked for all-or-nothing
//! under crashes by their own fault tests (`wa-store-redb`'s crash harness).
//!
//! The inbox operations are checked when the backend has an inbox
//! (`list_inbox(0)` succeeds); for a backend without one the check is that a
//! batch holding an inbox operation fails with
//! [`StoreError::Unsupported`](super::StoreError::Unsupported) and writes
//! nothing.

use bytes::Bytes;

use super::{
    Backend, DeviceInfo, DeviceListRecord, InboxEntry, LidPnMappingEntry, WriteBatch, WriteOp,
    apply_batch,
};

fn inbox_entry(id: &str, timestamp: i64, payload: &[u8]) -> InboxEntry {
    InboxEntry {
        chat: "a@s.whatsapp.net".into(),
        id: id.into(),
        sender: "a:3@s.whatsapp.net".into(),
        timestamp,
        payload: payload.to_vec(),
    }
}

/// Applies one batch holding every kind of operation to an empty store and
/// checks each effect; `expect_atomic` is what the backend declares. Panics on
/// the first difference.
pub async fn check_write_batch<S: Backend + ?Sized>(store: &S, expect_atomic: bool) {
    store
        .store_prekey(5, b"old", false)
        .await
        .expect("seed prekey");
    store
        .store_prekey(6, b"six", false)
        .await
        .expect("seed prekey");
    store
        .put_session("gone@c.us.0", b"x")
        .await
        .expect("seed session");
    store
        .put_sender_key("g@g.us:gone@c.us.0", b"x")
        .await
        .expect("seed sender key");
    let has_inbox = match store.list_inbox(0).await {
        Ok(listed) => {
            assert!(listed.is_empty(), "list_inbox(0) lists nothing");
            true
        }
        Err(e) if e.is_unsupported() => false,
        Err(e) => panic!("list_inbox(0) failed: {e} ({e:?})"),
    };
    if has_inbox {
        store
            .put_inbox(&inbox_entry("GONE", 1, b"x"))
            .await
            .expect("seed inbox");
    } else {
        // A backend without an inbox refuses a batch that writes it, before
        // writing anything.
        let mut batch = WriteBatch::new();
        batch.put_session("refused@c.us.0", Bytes::from_static(b"x"));
        batch.put_inbox(inbox_entry("R", 1, b"x"));
        match apply_batch(store, &batch).await {
            Err(e) if e.is_unsupported() => {}
            other => panic!("a batch with an inbox write on a backend without an inbox: {other:?}"),
        }
        assert_eq!(
            store.get_session("refused@c.us.0").await.expect("read"),
            None,
            "a refused batch writes nothing"
        );
    }

    let mut batch = WriteBatch::new();
    batch.put_session("a@c.us.0", Bytes::from_static(b"session-a"));
    batch.push(WriteOp::DeleteSession {
        address: "gone@c.us.0".into(),
    });
    batch.put_identity("a@c.us.0", [7; 32]);
    batch.push(WriteOp::StorePreKeys {
        keys: vec![
            (10, Bytes::from_static(b"ten")),
            (11, Bytes::from_static(b"eleven")),
        ],
        uploaded: false,
    });
    batch.push(WriteOp::MarkPreKeysUploaded {
        ids: vec![10, 6, 999],
    });
    batch.remove_prekey(5);
    batch.push(WriteOp::StoreSignedPreKey {
        id: 2,
        record: Bytes::from_static(b"spk"),
    });
    batch.put_sender_key("g@g.us:a@c.us.0", Bytes::from_static(b"sk"));
    batch.push(WriteOp::DeleteSenderKey {
        name: "g@g.us:gone@c.us.0".into(),
    });
    batch.push(WriteOp::StoreSentMessage {
        chat: "a@s.whatsapp.net".into(),
        id: "M1".into(),
        payload: Bytes::from_static(b"payload"),
        sent_at: 100,
    });
    batch.push(WriteOp::UpdateDeviceList(DeviceListRecord {
        user: "a".into(),
        devices: vec![DeviceInfo::new(0, None), DeviceInfo::new(3, Some(1))],
        timestamp: 50,
        phash: Some("2:abc".into()),
        raw_id: None,
    }));
    batch.push(WriteOp::PutLidMapping(LidPnMappingEntry {
        lid: "900".into(),
        phone_number: "a".into(),
        created_at: 1,
        updated_at: 2,
        learning_source: "test".into(),
    }));
    batch.push(WriteOp::SetSenderKeyStatus {
        group: "g@g.us".into(),
        entries: vec![("a:3@s.whatsapp.net".into(), true)],
    });
    if has_inbox {
        batch.put_inbox(inbox_entry("IN1", 20, b"in-1"));
        batch.put_inbox(inbox_entry("IN2", 10, b"in-2"));
        batch.push(WriteOp::RemoveInbox {
            chat: "a@s.whatsapp.net".into(),
            id: "GONE".into(),
        });
        batch.remove_inbox("a@s.whatsapp.net", "never-there");
    }
    // The later of two writes to one key wins, as with separate calls.
    batch.put_session("a@c.us.0", Bytes::from_static(b"session-a2"));
    if has_inbox {
        batch.put_inbox(inbox_entry("IN1", 5, b"in-1b"));
    }

    let atomic = apply_batch(store, &batch).await.expect("apply");
    assert_eq!(atomic, expect_atomic, "declared atomicity");

    let s = store;
    assert_eq!(
        s.get_session("a@c.us.0").await.expect("read").as_deref(),
        Some(&b"session-a2"[..])
    );
    assert_eq!(s.get_session("gone@c.us.0").await.expect("read"), None);
    assert_eq!(
        s.load_identity("a@c.us.0").await.expect("read"),
        Some([7; 32])
    );
    assert_eq!(s.load_prekey(5).await.expect("read"), None);
    assert_eq!(
        s.load_prekey(11).await.expect("read").as_deref(),
        Some(&b"eleven"[..])
    );
    assert_eq!(s.is_prekey_uploaded(10).await.expect("read"), Some(true));
    assert_eq!(s.is_prekey_uploaded(6).await.expect("read"), Some(true));
    assert_eq!(s.is_prekey_uploaded(11).await.expect("read"), Some(false));
    assert_eq!(s.is_prekey_uploaded(999).await.expect("read"), None);
    assert_eq!(
        s.load_signed_prekey(2).await.expect("read").as_deref(),
        Some(&b"spk"[..])
    );
    assert_eq!(
        s.get_sender_key("g@g.us:a@c.us.0")
            .await
            .expect("read")
            .as_deref(),
        Some(&b"sk"[..])
    );
    assert_eq!(
        s.get_sender_key("g@g.us:gone@c.us.0").await.expect("read"),
        None
    );
    assert_eq!(
        s.take_sent_message("a@s.whatsapp.net", "M1")
            .await
            .expect("read")
            .as_deref(),
        Some(&b"payload"[..])
    );
    let devices = s
        .get_devices("a")
        .await
        .expect("read")
        .expect("device list");
    assert_eq!(devices.devices.len(), 2);
    assert_eq!(
        s.get_pn_mapping("a").await.expect("read").map(|m| m.lid),
        Some("900".into())
    );
    assert_eq!(
        s.get_sender_key_devices("g@g.us").await.expect("read"),
        vec![("a:3@s.whatsapp.net".to_owned(), true)]
    );
    if has_inbox {
        assert_eq!(
            s.list_inbox(10).await.expect("read"),
            vec![
                inbox_entry("IN1", 5, b"in-1b"),
                inbox_entry("IN2", 10, b"in-2")
            ],
            "inbox after the batch"
        );
    }
    assert!(
        apply_batch(store, &WriteBatch::new())
            .await
            .expect("empty batch")
    );
}

/// The device operations of a batch: the prekey counter only rises, and a
/// signed prekey update lands only on a saved device with the same identity
/// key (a device wiped or linked anew meanwhile keeps its own). Panics on the
/// first difference.
pub async fn check_device_updates<S: Backend + ?Sized>(store: &S) {
    use super::SignedPreKeyUpdate;
    use super::conformance::full_device;
    let saved = full_device(3);
    store.save(&saved).await.expect("save device");
    let mut rotated = saved.clone();
    rotated.signed_pre_key_id = saved.signed_pre_key_id + 1;
    rotated.signed_pre_key.public = [9; 32];
    rotated.signed_pre_key.private = [8; 32];
    rotated.signed_pre_key_signature = [7; 64];
    rotated.last_signed_pre_key_rotation_ms = 1_234;
    let mut batch = WriteBatch::new();
    batch.push(WriteOp::AdvancePreKeyCounter { next: 900 });
    batch.push(WriteOp::AdvancePreKeyCounter { next: 10 });
    batch.push(WriteOp::SetSignedPreKey(Box::new(SignedPreKeyUpdate::of(
        &rotated,
    ))));
    apply_batch(store, &batch).await.expect("apply");
    let now = store.load().await.expect("load").expect("device");
    assert_eq!(now.next_pre_key_id, 900, "the counter only rises");
    assert_eq!(now.signed_pre_key_id, rotated.signed_pre_key_id);
    assert_eq!(now.signed_pre_key, rotated.signed_pre_key);
    assert_eq!(
        now.signed_pre_key_signature,
        rotated.signed_pre_key_signature
    );
    assert_eq!(now.last_signed_pre_key_rotation_ms, 1_234);
    assert_eq!(now.identity_key, saved.identity_key, "nothing else changed");

    // Another identity is saved (a logout wiped the old one): an update made
    // for the old identity leaves it alone.
    let other = full_device(4);
    store.save(&other).await.expect("save device");
    let mut batch = WriteBatch::new();
    batch.push(WriteOp::SetSignedPreKey(Box::new(SignedPreKeyUpdate::of(
        &rotated,
    ))));
    apply_batch(store, &batch).await.expect("apply");
    assert_eq!(store.load().await.expect("load").as_ref(), Some(&other));
}
