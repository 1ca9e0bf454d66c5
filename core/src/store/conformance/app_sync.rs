//! Checks of [`AppSyncStore`]: sync keys, versions, mutation MACs.

use super::*;

/// Sync keys: round trip, overwrite, the empty id, and
/// `get_latest_sync_key_id` follows the most recent `set_sync_key`.
pub async fn app_sync_keys<S: AppSyncStore + ?Sized>(s: &S) {
    let c = Check("app_sync::sync_keys");
    let key = |b: u8| AppStateSyncKey {
        key_data: vec![b; 32],
        fingerprint: vec![b, 1, 2],
        timestamp: 1_700_000_000_000 + i64::from(b),
    };
    c.eq(
        c.ok(s.get_latest_sync_key_id().await, "get_latest_sync_key_id"),
        None,
        "no latest sync key id before any set_sync_key",
    );
    c.eq(
        c.ok(s.get_sync_key(b"\x00\x00\x01").await, "get_sync_key"),
        None,
        "a missing sync key reads as None",
    );
    c.ok(
        s.set_sync_key(b"\x00\x00\x01", key(1)).await,
        "set_sync_key",
    );
    c.eq(
        c.ok(s.get_latest_sync_key_id().await, "get_latest_sync_key_id"),
        Some(b"\x00\x00\x01".to_vec()),
        "the latest sync key id is the one just set",
    );
    c.ok(
        s.set_sync_key(b"\x00\x00\x02", key(2)).await,
        "set_sync_key",
    );
    c.eq(
        c.ok(s.get_sync_key(b"\x00\x00\x01").await, "get_sync_key"),
        Some(key(1)),
        "set_sync_key then get_sync_key returns the key",
    );
    c.eq(
        c.ok(s.get_sync_key(b"\x00\x00\x02").await, "get_sync_key"),
        Some(key(2)),
        "set_sync_key then get_sync_key returns the key",
    );
    c.eq(
        c.ok(s.get_latest_sync_key_id().await, "get_latest_sync_key_id"),
        Some(b"\x00\x00\x02".to_vec()),
        "the latest sync key id follows the most recent set_sync_key",
    );
    c.ok(
        s.set_sync_key(b"\x00\x00\x01", key(9)).await,
        "set_sync_key",
    );
    c.eq(
        c.ok(s.get_sync_key(b"\x00\x00\x01").await, "get_sync_key"),
        Some(key(9)),
        "a second set_sync_key replaces the key",
    );
    c.eq(
        c.ok(s.get_latest_sync_key_id().await, "get_latest_sync_key_id"),
        Some(b"\x00\x00\x01".to_vec()),
        "re-setting an older id makes it the latest (most recent call, not largest id)",
    );
    c.ok(
        s.set_sync_key(b"", key(5)).await,
        "set_sync_key with an empty id",
    );
    c.eq(
        c.ok(s.get_sync_key(b"").await, "get_sync_key"),
        Some(key(5)),
        "the empty key id is a valid key",
    );
    c.eq(
        c.ok(s.get_latest_sync_key_id().await, "get_latest_sync_key_id"),
        Some(vec![]),
        "an empty latest id is Some(empty), not None",
    );
}

/// Versions: `None` means never synced; round trip, overwrite, delete,
/// collections independent, version 0 is not `None`.
pub async fn app_sync_versions<S: AppSyncStore + ?Sized>(s: &S) {
    let c = Check("app_sync::versions");
    c.eq(
        c.ok(s.get_version("regular").await, "get_version"),
        None,
        "a never-synced collection has no version",
    );
    c.ok(
        s.set_version("regular", HashState::default()).await,
        "set_version",
    );
    c.eq(
        c.ok(s.get_version("regular").await, "get_version"),
        Some(HashState::default()),
        "a synced, empty collection at version 0 is Some, not None",
    );
    c.ok(s.set_version("regular", hash_state(7)).await, "set_version");
    c.ok(
        s.set_version("regular_high", hash_state(9)).await,
        "set_version",
    );
    c.eq(
        c.ok(s.get_version("regular").await, "get_version"),
        Some(hash_state(7)),
        "a second set_version replaces the state",
    );
    c.eq(
        c.ok(s.get_version("regular_high").await, "get_version"),
        Some(hash_state(9)),
        "collections keep their own versions",
    );
    c.ok(s.delete_version("regular").await, "delete_version");
    c.eq(
        c.ok(s.get_version("regular").await, "get_version"),
        None,
        "delete_version returns the collection to never-synced",
    );
    c.ok(
        s.delete_version("regular").await,
        "delete_version of a missing collection must be Ok",
    );
    c.eq(
        c.ok(s.get_version("regular_high").await, "get_version"),
        Some(hash_state(9)),
        "delete_version leaves other collections (even ones it is a prefix of)",
    );
}

/// Mutation MACs: round trip, missing, overwrite, delete many (missing ones
/// ignored), empty batches.
pub async fn app_sync_mutation_macs<S: AppSyncStore + ?Sized>(s: &S) {
    let c = Check("app_sync::mutation_macs");
    c.eq(
        c.ok(
            s.get_mutation_mac("regular", &[1; 32]).await,
            "get_mutation_mac",
        ),
        None,
        "a missing MAC reads as None",
    );
    let macs: Vec<_> = (0..50u8).map(|i| mac(&[i; 32], &pattern(i, 32))).collect();
    c.ok(
        s.put_mutation_macs("regular", 3, &macs).await,
        "put_mutation_macs",
    );
    c.ok(
        s.put_mutation_macs("regular", 4, &[]).await,
        "put_mutation_macs with no MACs",
    );
    for m in &macs {
        c.eq(
            c.ok(
                s.get_mutation_mac("regular", &m.index_mac).await,
                "get_mutation_mac",
            ),
            Some(m.value_mac.clone()),
            "put_mutation_macs then get_mutation_mac returns the value MAC",
        );
    }
    c.eq(
        c.ok(
            s.get_mutation_mac("regular_low", &[1; 32]).await,
            "get_mutation_mac",
        ),
        None,
        "MACs belong to their collection",
    );
    c.ok(
        s.put_mutation_macs("regular", 5, &[mac(&[1; 32], b"new value mac")])
            .await,
        "put_mutation_macs",
    );
    c.eq(
        c.ok(
            s.get_mutation_mac("regular", &[1; 32]).await,
            "get_mutation_mac",
        ),
        Some(b"new value mac".to_vec()),
        "a later put_mutation_macs replaces the value MAC of an index",
    );
    c.ok(
        s.delete_mutation_macs("regular", &[vec![1; 32], vec![2; 32], vec![200; 32]])
            .await,
        "delete_mutation_macs (with a missing index)",
    );
    c.eq(
        c.ok(
            s.get_mutation_mac("regular", &[1; 32]).await,
            "get_mutation_mac",
        ),
        None,
        "delete_mutation_macs deletes the given indexes",
    );
    c.eq(
        c.ok(
            s.get_mutation_mac("regular", &[2; 32]).await,
            "get_mutation_mac",
        ),
        None,
        "delete_mutation_macs deletes the given indexes",
    );
    c.eq(
        c.ok(
            s.get_mutation_mac("regular", &[3; 32]).await,
            "get_mutation_mac",
        ),
        Some(pattern(3, 32)),
        "delete_mutation_macs leaves other indexes",
    );
    c.ok(
        s.delete_mutation_macs("regular", &[]).await,
        "delete_mutation_macs with no indexes",
    );
    c.ok(
        s.delete_mutation_macs("never_synced", &[vec![1]]).await,
        "delete_mutation_macs in a missing collection must be Ok",
    );
}

/// A batch `put_mutation_macs` equals one call per MAC, and a batch delete
/// equals one call per index.
pub async fn app_sync_mutation_macs_batch<S: AppSyncStore + ?Sized>(s: &S) {
    let c = Check("app_sync::mutation_macs_batch");
    // 500 MACs: the size of a large snapshot page.
    let macs: Vec<_> = (0..500u32)
        .map(|i| mac(&i.to_be_bytes(), &pattern(i as u8, 32)))
        .collect();
    c.ok(
        s.put_mutation_macs("batch", 1, &macs).await,
        "put_mutation_macs",
    );
    for m in &macs {
        c.ok(
            s.put_mutation_macs("single", 1, std::slice::from_ref(m))
                .await,
            "put_mutation_macs",
        );
    }
    let doomed: Vec<Vec<u8>> = (0..500u32)
        .step_by(3)
        .map(|i| i.to_be_bytes().to_vec())
        .collect();
    c.ok(
        s.delete_mutation_macs("batch", &doomed).await,
        "delete_mutation_macs",
    );
    for d in &doomed {
        c.ok(
            s.delete_mutation_macs("single", std::slice::from_ref(d))
                .await,
            "delete_mutation_macs",
        );
    }
    for m in &macs {
        let batch = c.ok(
            s.get_mutation_mac("batch", &m.index_mac).await,
            "get_mutation_mac",
        );
        let single = c.ok(
            s.get_mutation_mac("single", &m.index_mac).await,
            "get_mutation_mac",
        );
        c.eq(
            batch.clone(),
            single,
            "batched MAC puts and deletes leave the same state as single-row calls",
        );
        let deleted = doomed.contains(&m.index_mac);
        c.eq(
            batch.is_some(),
            !deleted,
            "exactly the deleted MACs are gone",
        );
    }
}

/// `clear_mutation_macs` empties one collection and nothing else: not its
/// version, not collections whose names share a prefix.
pub async fn app_sync_clear_mutation_macs<S: AppSyncStore + ?Sized>(s: &S) {
    let c = Check("app_sync::clear_mutation_macs");
    for name in ["regula", "regular", "regular_high", "regular\0"] {
        c.ok(
            s.put_mutation_macs(name, 1, &[mac(b"idx", name.as_bytes()), mac(b"idx2", b"v")])
                .await,
            "put_mutation_macs",
        );
    }
    c.ok(s.set_version("regular", hash_state(3)).await, "set_version");
    c.ok(
        s.clear_mutation_macs("regular").await,
        "clear_mutation_macs",
    );
    c.eq(
        c.ok(
            s.get_mutation_mac("regular", b"idx").await,
            "get_mutation_mac",
        ),
        None,
        "clear_mutation_macs removes the collection's MACs",
    );
    c.eq(
        c.ok(
            s.get_mutation_mac("regular", b"idx2").await,
            "get_mutation_mac",
        ),
        None,
        "clear_mutation_macs removes the collection's MACs",
    );
    for name in ["regula", "regular_high", "regular\0"] {
        c.eq(
            c.ok(s.get_mutation_mac(name, b"idx").await, "get_mutation_mac"),
            Some(name.as_bytes().to_vec()),
            "clear_mutation_macs leaves other collections, including ones sharing a name prefix",
        );
    }
    c.eq(
        c.ok(s.get_version("regular").await, "get_version"),
        Some(hash_state(3)),
        "clear_mutation_macs does not touch the collection's version",
    );
    c.ok(
        s.clear_mutation_macs("regular").await,
        "clear_mutation_macs of an empty collection must be Ok",
    );
    c.ok(
        s.put_mutation_macs("regular", 2, &[mac(b"idx", b"again")])
            .await,
        "put_mutation_macs",
    );
    c.eq(
        c.ok(
            s.get_mutation_mac("regular", b"idx").await,
            "get_mutation_mac",
        ),
        Some(b"again".to_vec()),
        "a cleared collection can be filled again",
    );
}
