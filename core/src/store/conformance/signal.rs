//! Checks of [`SignalStore`]: identities, sessions, prekeys, signed prekeys,
//! sender keys.

use super::*;

/// Identities: missing is `None`, round trip, overwrite, delete, delete of a
/// missing key is `Ok`, keys are independent.
pub async fn signal_identities<S: SignalStore + ?Sized>(s: &S) {
    let c = Check("signal::identities");
    let a = "5511987650001.0";
    let b = "5511987650002.0";
    c.eq(
        c.ok(s.load_identity(a).await, "load_identity"),
        None,
        "a missing identity loads as None",
    );
    c.ok(s.put_identity(a, [1; 32]).await, "put_identity");
    c.ok(s.put_identity(b, [2; 32]).await, "put_identity");
    c.eq(
        c.ok(s.load_identity(a).await, "load_identity"),
        Some([1; 32]),
        "put_identity then load_identity returns the key",
    );
    c.ok(s.put_identity(a, [3; 32]).await, "put_identity");
    c.eq(
        c.ok(s.load_identity(a).await, "load_identity"),
        Some([3; 32]),
        "a second put_identity replaces the key",
    );
    c.ok(s.delete_identity(a).await, "delete_identity");
    c.eq(
        c.ok(s.load_identity(a).await, "load_identity"),
        None,
        "delete_identity removes the key",
    );
    c.ok(
        s.delete_identity(a).await,
        "delete_identity of a missing key must be Ok",
    );
    c.eq(
        c.ok(s.load_identity(b).await, "load_identity"),
        Some([2; 32]),
        "deleting one identity leaves the others",
    );
}

/// Sessions: round trip, `has_session`, overwrite, delete, delete missing.
pub async fn signal_sessions<S: SignalStore + ?Sized>(s: &S) {
    let c = Check("signal::sessions");
    let a = "5511987650001.3";
    c.eq(
        c.ok(s.get_session(a).await, "get_session"),
        None,
        "a missing session reads as None",
    );
    c.eq(
        c.ok(s.has_session(a).await, "has_session"),
        false,
        "has_session is false for a missing session",
    );
    c.ok(s.put_session(a, b"first").await, "put_session");
    c.eq(
        c.ok(s.get_session(a).await, "get_session"),
        Some(Bytes::from_static(b"first")),
        "put_session then get_session returns the bytes",
    );
    c.eq(
        c.ok(s.has_session(a).await, "has_session"),
        true,
        "has_session is true after put_session",
    );
    c.ok(s.put_session(a, b"second, longer").await, "put_session");
    c.eq(
        c.ok(s.get_session(a).await, "get_session"),
        Some(Bytes::from_static(b"second, longer")),
        "a second put_session replaces the bytes",
    );
    c.ok(s.put_session(a, b"").await, "put_session");
    c.eq(
        c.ok(s.get_session(a).await, "get_session"),
        Some(Bytes::new()),
        "an empty session is stored, not treated as missing",
    );
    c.ok(s.delete_session(a).await, "delete_session");
    c.eq(
        c.ok(s.get_session(a).await, "get_session"),
        None,
        "delete_session removes the session",
    );
    c.eq(
        c.ok(s.has_session(a).await, "has_session"),
        false,
        "has_session is false after delete_session",
    );
    c.ok(
        s.delete_session(a).await,
        "delete_session of a missing key must be Ok",
    );
}

/// `put_sessions_batch` equals the sum of `put_session` calls: every entry is
/// stored, later duplicates win, existing sessions are replaced, others are
/// untouched, an empty batch is a no-op.
pub async fn signal_sessions_batch<S: SignalStore + ?Sized>(s: &S) {
    let c = Check("signal::sessions_batch");
    c.ok(s.put_session("untouched.0", b"keep").await, "put_session");
    c.ok(s.put_session("replaced.0", b"old").await, "put_session");
    c.ok(
        s.put_sessions_batch(&[]).await,
        "put_sessions_batch with no entries",
    );
    let mut batch: Vec<(Arc<str>, Bytes)> = (0..100u8)
        .map(|i| {
            (
                Arc::from(format!("55119876{i:05}.{}", i % 3)),
                Bytes::from(pattern(i, 40 + usize::from(i))),
            )
        })
        .collect();
    batch.push((Arc::from("replaced.0"), Bytes::from_static(b"new")));
    batch.push((Arc::from("dup.0"), Bytes::from_static(b"first")));
    batch.push((Arc::from("dup.0"), Bytes::from_static(b"second")));
    c.ok(s.put_sessions_batch(&batch).await, "put_sessions_batch");
    for (i, (address, _)) in batch.iter().take(100).enumerate() {
        let want = Bytes::from(pattern(i as u8, 40 + i));
        c.eq(
            c.ok(s.get_session(address).await, "get_session"),
            Some(want),
            "every entry of put_sessions_batch is readable with get_session",
        );
    }
    c.eq(
        c.ok(s.get_session("replaced.0").await, "get_session"),
        Some(Bytes::from_static(b"new")),
        "put_sessions_batch replaces an existing session",
    );
    c.eq(
        c.ok(s.get_session("dup.0").await, "get_session"),
        Some(Bytes::from_static(b"second")),
        "within one batch the later entry for an address wins",
    );
    c.eq(
        c.ok(s.get_session("untouched.0").await, "get_session"),
        Some(Bytes::from_static(b"keep")),
        "put_sessions_batch leaves other sessions alone",
    );
}

/// Prekeys: round trip, overwrite (record and flag), remove, remove missing.
pub async fn signal_prekeys<S: SignalStore + ?Sized>(s: &S) {
    let c = Check("signal::prekeys");
    c.eq(
        c.ok(s.load_prekey(7).await, "load_prekey"),
        None,
        "a missing prekey loads as None",
    );
    c.eq(
        c.ok(s.is_prekey_uploaded(7).await, "is_prekey_uploaded"),
        None,
        "a missing prekey has no upload flag",
    );
    c.ok(s.store_prekey(7, b"rec7", false).await, "store_prekey");
    c.ok(s.store_prekey(8, b"rec8", true).await, "store_prekey");
    c.eq(
        c.ok(s.load_prekey(7).await, "load_prekey"),
        Some(Bytes::from_static(b"rec7")),
        "store_prekey then load_prekey returns the record",
    );
    c.eq(
        c.ok(s.is_prekey_uploaded(7).await, "is_prekey_uploaded"),
        Some(false),
        "store_prekey keeps uploaded = false",
    );
    c.eq(
        c.ok(s.is_prekey_uploaded(8).await, "is_prekey_uploaded"),
        Some(true),
        "store_prekey keeps uploaded = true",
    );
    c.ok(s.store_prekey(8, b"rec8b", false).await, "store_prekey");
    c.eq(
        c.ok(s.load_prekey(8).await, "load_prekey"),
        Some(Bytes::from_static(b"rec8b")),
        "a second store_prekey replaces the record",
    );
    c.eq(
        c.ok(s.is_prekey_uploaded(8).await, "is_prekey_uploaded"),
        Some(false),
        "a second store_prekey replaces the upload flag",
    );
    c.ok(s.remove_prekey(7).await, "remove_prekey");
    c.eq(
        c.ok(s.load_prekey(7).await, "load_prekey"),
        None,
        "remove_prekey removes the prekey",
    );
    c.ok(
        s.remove_prekey(7).await,
        "remove_prekey of a missing id must be Ok",
    );
    c.eq(
        c.ok(s.load_prekey(8).await, "load_prekey"),
        Some(Bytes::from_static(b"rec8b")),
        "removing one prekey leaves the others",
    );
}

/// `store_prekeys_batch` equals the sum of `store_prekey` calls, and
/// `load_prekeys_batch` equals the sum of `load_prekey` calls: asked order,
/// missing ids left out, duplicates repeated.
pub async fn signal_prekeys_batch<S: SignalStore + ?Sized>(s: &S) {
    let c = Check("signal::prekeys_batch");
    c.ok(
        s.store_prekeys_batch(&[], true).await,
        "store_prekeys_batch with no keys",
    );
    // 812 is the size of WhatsApp's initial prekey upload.
    let batch: Vec<(u32, Bytes)> = (1..=812u32)
        .map(|id| (id, Bytes::from(pattern(id as u8, 33 + (id % 5) as usize))))
        .collect();
    c.ok(
        s.store_prekeys_batch(&batch, false).await,
        "store_prekeys_batch",
    );
    for (id, record) in &batch {
        c.eq(
            c.ok(s.load_prekey(*id).await, "load_prekey"),
            Some(record.clone()),
            "every key of store_prekeys_batch is readable with load_prekey",
        );
        if *id % 100 == 0 {
            c.eq(
                c.ok(s.is_prekey_uploaded(*id).await, "is_prekey_uploaded"),
                Some(false),
                "store_prekeys_batch stores the upload flag given",
            );
        }
    }
    c.ok(
        s.store_prekeys_batch(&[(900, Bytes::from_static(b"u"))], true)
            .await,
        "store_prekeys_batch",
    );
    c.eq(
        c.ok(s.is_prekey_uploaded(900).await, "is_prekey_uploaded"),
        Some(true),
        "store_prekeys_batch stores uploaded = true",
    );

    let ask = [5u32, 99_999, 3, 5, 812, 0, 813, 1];
    let mut singles = Vec::new();
    for id in ask {
        if let Some(r) = c.ok(s.load_prekey(id).await, "load_prekey") {
            singles.push((id, r));
        }
    }
    let batch_read = c.ok(s.load_prekeys_batch(&ask).await, "load_prekeys_batch");
    c.eq(batch_read.clone(), singles, "load_prekeys_batch returns what load_prekey returns, in the order asked, without missing ids");
    c.eq(
        batch_read.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        vec![5, 3, 5, 812, 1],
        "load_prekeys_batch keeps order and duplicates",
    );
    c.eq(
        c.ok(s.load_prekeys_batch(&[]).await, "load_prekeys_batch"),
        vec![],
        "load_prekeys_batch of no ids is empty",
    );
}

/// `mark_prekeys_uploaded` sets the flag on existing keys and never recreates
/// a removed or unknown one.
pub async fn signal_mark_prekeys_uploaded<S: SignalStore + ?Sized>(s: &S) {
    let c = Check("signal::mark_prekeys_uploaded");
    for id in 1..=5u32 {
        c.ok(
            s.store_prekey(id, &pattern(id as u8, 33), false).await,
            "store_prekey",
        );
    }
    c.ok(s.remove_prekey(3).await, "remove_prekey");
    c.ok(
        s.mark_prekeys_uploaded(&[1, 2, 3, 4, 77]).await,
        "mark_prekeys_uploaded",
    );
    for id in [1u32, 2, 4] {
        c.eq(
            c.ok(s.is_prekey_uploaded(id).await, "is_prekey_uploaded"),
            Some(true),
            "mark_prekeys_uploaded marks existing keys",
        );
        c.eq(
            c.ok(s.load_prekey(id).await, "load_prekey"),
            Some(Bytes::from(pattern(id as u8, 33))),
            "mark_prekeys_uploaded keeps the record",
        );
    }
    c.eq(
        c.ok(s.is_prekey_uploaded(5).await, "is_prekey_uploaded"),
        Some(false),
        "mark_prekeys_uploaded leaves keys it was not given",
    );
    c.eq(
        c.ok(s.load_prekey(3).await, "load_prekey"),
        None,
        "mark_prekeys_uploaded must not resurrect a removed prekey",
    );
    c.eq(
        c.ok(s.is_prekey_uploaded(3).await, "is_prekey_uploaded"),
        None,
        "mark_prekeys_uploaded must not resurrect a removed prekey",
    );
    c.eq(
        c.ok(s.load_prekey(77).await, "load_prekey"),
        None,
        "mark_prekeys_uploaded must not create an unknown prekey",
    );
    c.eq(
        c.ok(s.get_max_prekey_id().await, "get_max_prekey_id"),
        5,
        "mark_prekeys_uploaded must not create rows",
    );
    c.ok(
        s.mark_prekeys_uploaded(&[]).await,
        "mark_prekeys_uploaded with no ids",
    );
}

/// `get_max_prekey_id`: 0 when empty, the largest id otherwise (the whole u32
/// range), and it follows removals.
pub async fn signal_max_prekey_id<S: SignalStore + ?Sized>(s: &S) {
    let c = Check("signal::max_prekey_id");
    c.eq(
        c.ok(s.get_max_prekey_id().await, "get_max_prekey_id"),
        0,
        "get_max_prekey_id is 0 when no prekey exists",
    );
    for id in [10u32, 2, 300, 256, 1] {
        c.ok(s.store_prekey(id, b"r", false).await, "store_prekey");
    }
    c.eq(
        c.ok(s.get_max_prekey_id().await, "get_max_prekey_id"),
        300,
        "get_max_prekey_id is the largest id (numeric, not text, order)",
    );
    c.ok(
        s.store_prekey(0x00ff_ffff, b"r", false).await,
        "store_prekey",
    );
    c.eq(
        c.ok(s.get_max_prekey_id().await, "get_max_prekey_id"),
        0x00ff_ffff,
        "get_max_prekey_id covers 24-bit ids",
    );
    c.ok(s.store_prekey(u32::MAX, b"r", false).await, "store_prekey");
    c.eq(
        c.ok(s.get_max_prekey_id().await, "get_max_prekey_id"),
        u32::MAX,
        "prekey ids use the whole u32 range",
    );
    c.ok(s.remove_prekey(u32::MAX).await, "remove_prekey");
    c.ok(s.remove_prekey(0x00ff_ffff).await, "remove_prekey");
    c.eq(
        c.ok(s.get_max_prekey_id().await, "get_max_prekey_id"),
        300,
        "get_max_prekey_id follows removals",
    );
    for id in [10u32, 2, 300, 256, 1] {
        c.ok(s.remove_prekey(id).await, "remove_prekey");
    }
    c.eq(
        c.ok(s.get_max_prekey_id().await, "get_max_prekey_id"),
        0,
        "get_max_prekey_id is 0 again once every prekey is removed",
    );
}

/// Signed prekeys: round trip, overwrite, `load_all_signed_prekeys` by
/// ascending id, remove, remove missing.
pub async fn signal_signed_prekeys<S: SignalStore + ?Sized>(s: &S) {
    let c = Check("signal::signed_prekeys");
    c.eq(
        c.ok(s.load_signed_prekey(1).await, "load_signed_prekey"),
        None,
        "a missing signed prekey loads as None",
    );
    c.eq(
        c.ok(s.load_all_signed_prekeys().await, "load_all_signed_prekeys"),
        vec![],
        "no signed prekeys at first",
    );
    for id in [30u32, 1, 256, 2] {
        c.ok(
            s.store_signed_prekey(id, &pattern(id as u8, 100)).await,
            "store_signed_prekey",
        );
    }
    c.eq(
        c.ok(s.load_signed_prekey(256).await, "load_signed_prekey"),
        Some(pattern(0, 100)),
        "store_signed_prekey then load_signed_prekey returns the record",
    );
    c.ok(
        s.store_signed_prekey(2, b"replaced").await,
        "store_signed_prekey",
    );
    c.eq(
        c.ok(s.load_signed_prekey(2).await, "load_signed_prekey"),
        Some(b"replaced".to_vec()),
        "a second store_signed_prekey replaces the record",
    );
    let all = c.ok(s.load_all_signed_prekeys().await, "load_all_signed_prekeys");
    c.eq(
        all,
        vec![
            (1, pattern(1, 100)),
            (2, b"replaced".to_vec()),
            (30, pattern(30, 100)),
            (256, pattern(0, 100)),
        ],
        "load_all_signed_prekeys returns every record by ascending id",
    );
    c.ok(s.remove_signed_prekey(30).await, "remove_signed_prekey");
    c.eq(
        c.ok(s.load_signed_prekey(30).await, "load_signed_prekey"),
        None,
        "remove_signed_prekey removes the record",
    );
    c.ok(
        s.remove_signed_prekey(30).await,
        "remove_signed_prekey of a missing id must be Ok",
    );
    c.eq(
        c.ok(s.load_all_signed_prekeys().await, "load_all_signed_prekeys")
            .len(),
        3,
        "remove_signed_prekey removes exactly one record",
    );
}

/// Sender keys: round trip, overwrite, delete, delete missing.
pub async fn signal_sender_keys<S: SignalStore + ?Sized>(s: &S) {
    let c = Check("signal::sender_keys");
    let a = "120363021033254949@g.us::5511987650001.0";
    let b = "120363021033254949@g.us::5511987650001.1";
    c.eq(
        c.ok(s.get_sender_key(a).await, "get_sender_key"),
        None,
        "a missing sender key reads as None",
    );
    c.ok(s.put_sender_key(a, b"one").await, "put_sender_key");
    c.ok(s.put_sender_key(b, b"two").await, "put_sender_key");
    c.eq(
        c.ok(s.get_sender_key(a).await, "get_sender_key"),
        Some(b"one".to_vec()),
        "put_sender_key then get_sender_key returns the record",
    );
    c.ok(s.put_sender_key(a, b"three").await, "put_sender_key");
    c.eq(
        c.ok(s.get_sender_key(a).await, "get_sender_key"),
        Some(b"three".to_vec()),
        "a second put_sender_key replaces the record",
    );
    c.ok(s.delete_sender_key(a).await, "delete_sender_key");
    c.eq(
        c.ok(s.get_sender_key(a).await, "get_sender_key"),
        None,
        "delete_sender_key removes the record",
    );
    c.ok(
        s.delete_sender_key(a).await,
        "delete_sender_key of a missing key must be Ok",
    );
    c.eq(
        c.ok(s.get_sender_key(b).await, "get_sender_key"),
        Some(b"two".to_vec()),
        "deleting one sender key leaves the others",
    );
}

/// Empty, Unicode, NUL-containing and prefix-of-each-other addresses are all
/// distinct, valid keys for identities, sessions and sender keys.
pub async fn signal_key_edge_cases<S: SignalStore + ?Sized>(s: &S) {
    let c = Check("signal::key_edge_cases");
    for (i, key) in TRICKY_KEYS.iter().enumerate() {
        let i = i as u8;
        c.ok(s.put_identity(key, [i; 32]).await, "put_identity");
        c.ok(s.put_session(key, &[i, 1]).await, "put_session");
        c.ok(s.put_sender_key(key, &[i, 2]).await, "put_sender_key");
    }
    for (i, key) in TRICKY_KEYS.iter().enumerate() {
        let i = i as u8;
        let what = format!(
            "address {key:?} keeps its own value (empty, Unicode and prefix keys are distinct keys)"
        );
        c.eq(
            c.ok(s.load_identity(key).await, "load_identity"),
            Some([i; 32]),
            &what,
        );
        c.eq(
            c.ok(s.get_session(key).await, "get_session"),
            Some(Bytes::from(vec![i, 1])),
            &what,
        );
        c.eq(
            c.ok(s.get_sender_key(key).await, "get_sender_key"),
            Some(vec![i, 2]),
            &what,
        );
    }
    c.ok(s.delete_session("").await, "delete_session");
    c.eq(
        c.ok(s.get_session("").await, "get_session"),
        None,
        "the empty address can be deleted",
    );
    c.eq(
        c.ok(s.get_session("a").await, "get_session"),
        Some(Bytes::from(vec![7, 1])),
        "deleting the empty address leaves the others",
    );
}

/// A 4 MiB session round-trips through `put_session` and `put_sessions_batch`.
pub async fn signal_large_values<S: SignalStore + ?Sized>(s: &S) {
    let c = Check("signal::large_values");
    let big = Bytes::from(pattern(42, LARGE));
    c.ok(s.put_session("big.0", &big).await, "put_session of 4 MiB");
    let got = c.ok(s.get_session("big.0").await, "get_session");
    c.same(
        &got,
        &Some(big.clone()),
        "a 4 MiB session round-trips byte for byte",
    );
    let big2 = Bytes::from(pattern(43, LARGE));
    c.ok(
        s.put_sessions_batch(&[(Arc::from("big.1"), big2.clone())])
            .await,
        "put_sessions_batch of 4 MiB",
    );
    let got = c.ok(s.get_session("big.1").await, "get_session");
    c.same(
        &got,
        &Some(big2),
        "a 4 MiB session round-trips through put_sessions_batch",
    );
    let got = c.ok(s.get_session("big.0").await, "get_session");
    c.same(
        &got,
        &Some(big),
        "a large write does not disturb another large value",
    );
}

/// 16 concurrent writers on distinct addresses all land; 16 concurrent
/// writers on one address leave one of their values, whole.
pub async fn signal_concurrent_writes<S: SignalStore + ?Sized>(s: &S) {
    let c = Check("signal::concurrent_writes");
    let addresses: Vec<String> = (0..16).map(|i| format!("55119876500{i:02}.0")).collect();
    let values: Vec<Vec<u8>> = (0..16u8).map(|i| pattern(i, 1000)).collect();
    let writes: Vec<_> = addresses
        .iter()
        .zip(&values)
        .map(|(a, v)| s.put_session(a, v))
        .collect();
    for r in join_all(writes).await {
        c.ok(r, "put_session (concurrent)");
    }
    for (a, v) in addresses.iter().zip(&values) {
        c.eq(
            c.ok(s.get_session(a).await, "get_session"),
            Some(Bytes::from(v.clone())),
            "no concurrent write to a distinct address is lost",
        );
    }
    let same: Vec<_> = values
        .iter()
        .map(|v| s.put_session("contended.0", v))
        .collect();
    for r in join_all(same).await {
        c.ok(r, "put_session (concurrent, same address)");
    }
    let got = c.ok(s.get_session("contended.0").await, "get_session");
    c.truth(
        got.as_ref()
            .is_some_and(|g| values.iter().any(|v| g.as_ref() == v.as_slice())),
        "after concurrent writes to one address, the value is one of the written values, whole",
    );
}
