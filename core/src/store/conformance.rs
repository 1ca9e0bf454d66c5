//! A public test battery for store backends (feature `conformance`).
//!
//! Every backend, the bundled ones and yours, runs the same checks, so the
//! contracts in [`crate::store::traits`] hold whatever is plugged in. The
//! battery is plain async code with no executor of its own: call it from a
//! test with the executor you use (`smol::block_on`, `futures::executor`, ...).
//!
//! A failing check **panics** with a message that names the check and the
//! contract it broke, e.g.
//! `store conformance check "protocol::sent_message_take_once" failed: ...`.
//!
//! # Fresh stores and device ids
//!
//! Each check runs on a fresh, empty store made by your factory. The factory
//! returns a [`StorePair`]: two handles on **one** fresh storage that address
//! two **different** device ids, so the isolation check can write through one
//! and read through the other. Most checks only use [`StorePair::primary`].
//! A multi-account backend builds the pair with its own API, e.g.
//! `let id = a.create().await?; StorePair { primary: a.clone(), secondary: a.for_device(id) }`.
//!
//! # Running a subset
//!
//! [`run_all`] runs every check. [`signal_store`], [`app_sync_store`],
//! [`protocol_store`] and [`device_store`] run the checks of one trait with a
//! factory of single stores (so a backend that implements only that trait can
//! use them), [`isolation`] needs a pair, and every check is also a public
//! function taking one fresh store.
//!
//! # What the battery pins down
//!
//! - Boundaries: expiry sweeps delete rows stamped strictly before the cut-off;
//!   a row stamped exactly at the cut-off is kept (both sides are checked).
//! - Newest wins for [`ProtocolStore::get_pn_mapping`]: largest `updated_at`,
//!   then largest `lid`, whatever the write order.
//! - `take_sent_message` hands a payload to exactly one of 16 concurrent takers.
//! - Batch methods equal the sum of their single-row counterparts.
//! - 4 MiB values, empty keys and Unicode keys round-trip.
//!
//! # Example
//!
//! ```
//! use wa_core::store::{DeviceStore, MemoryStore};
//! use wa_core::store::conformance::{self, StorePair};
//!
//! smol::block_on(conformance::run_all(|| async {
//!     let primary = MemoryStore::new();
//!     let id = primary.create().await.expect("create");
//!     let secondary = primary.for_device(id);
//!     StorePair { primary, secondary }
//! }));
//! ```

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;

use crate::binary::Jid;

use super::error::StoreResult;
use super::traits::{AppSyncStore, Backend, DeviceStore, ProtocolStore, SignalStore};
use super::types::{
    AppStateMutationMAC, AppStateSyncKey, AppVersion, CachedNoiseCert, CachedServerCertChain,
    Device, DeviceInfo, DeviceKeys, DeviceListRecord, HashState, KeyPair, LidPnMappingEntry,
    TcTokenEntry,
};

/// Two handles on one fresh, empty storage, addressing two different device ids.
#[derive(Debug, Clone)]
pub struct StorePair<S> {
    /// The handle most checks use.
    pub primary: S,
    /// A handle for another device id on the same storage.
    pub secondary: S,
}

/// Runs every check, each on a fresh [`StorePair`] from `make`.
pub async fn run_all<F, Fut, S>(mut make: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = StorePair<S>>,
    S: Backend,
{
    signal_store(|| {
        let pair = make();
        async move { pair.await.primary }
    })
    .await;
    app_sync_store(|| {
        let pair = make();
        async move { pair.await.primary }
    })
    .await;
    protocol_store(|| {
        let pair = make();
        async move { pair.await.primary }
    })
    .await;
    device_store(|| {
        let pair = make();
        async move { pair.await.primary }
    })
    .await;
    isolation(make).await;
}

/// Runs every [`SignalStore`] check, each on a fresh store from `make`.
pub async fn signal_store<F, Fut, S>(mut make: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
    S: SignalStore,
{
    signal_identities(&make().await).await;
    signal_sessions(&make().await).await;
    signal_sessions_batch(&make().await).await;
    signal_prekeys(&make().await).await;
    signal_prekeys_batch(&make().await).await;
    signal_mark_prekeys_uploaded(&make().await).await;
    signal_max_prekey_id(&make().await).await;
    signal_signed_prekeys(&make().await).await;
    signal_sender_keys(&make().await).await;
    signal_key_edge_cases(&make().await).await;
    signal_large_values(&make().await).await;
    signal_concurrent_writes(&make().await).await;
}

/// Runs every [`AppSyncStore`] check, each on a fresh store from `make`.
pub async fn app_sync_store<F, Fut, S>(mut make: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
    S: AppSyncStore,
{
    app_sync_keys(&make().await).await;
    app_sync_versions(&make().await).await;
    app_sync_mutation_macs(&make().await).await;
    app_sync_mutation_macs_batch(&make().await).await;
    app_sync_clear_mutation_macs(&make().await).await;
}

/// Runs every [`ProtocolStore`] check, each on a fresh store from `make`.
pub async fn protocol_store<F, Fut, S>(mut make: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
    S: ProtocolStore,
{
    protocol_sender_key_devices(&make().await).await;
    protocol_lid_mappings(&make().await).await;
    protocol_pn_mapping_newest_wins(&make().await).await;
    protocol_base_keys(&make().await).await;
    protocol_device_lists(&make().await).await;
    protocol_tc_tokens(&make().await).await;
    protocol_tc_token_expiry(&make().await).await;
    protocol_sent_messages(&make().await).await;
    protocol_sent_message_expiry(&make().await).await;
    protocol_sent_message_take_once(&make().await).await;
    protocol_key_edge_cases(&make().await).await;
}

/// Runs every [`DeviceStore`] check, each on a fresh store from `make`.
pub async fn device_store<F, Fut, S>(mut make: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
    S: DeviceStore,
{
    device_save_load(&make().await).await;
    device_create(&make().await).await;
    device_snapshot(&make().await).await;
}

/// Runs the device-id isolation check on a fresh pair from `make`.
pub async fn isolation<F, Fut, S>(mut make: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = StorePair<S>>,
    S: Backend,
{
    let pair = make().await;
    isolation_between_device_ids(&pair.primary, &pair.secondary).await;
}

// ---------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------

/// One running check: every failure names it.
pub(super) struct Check(pub(super) &'static str);

impl Check {
    pub(super) fn fail(&self, what: std::fmt::Arguments<'_>) -> ! {
        panic!("store conformance check \"{}\" failed: {what}", self.0)
    }

    /// Unwraps a store result; an error fails the check.
    pub(super) fn ok<T>(&self, result: StoreResult<T>, call: &str) -> T {
        match result {
            Ok(v) => v,
            Err(e) => self.fail(format_args!("{call} returned an error: {e} ({e:?})")),
        }
    }

    pub(super) fn eq<T: PartialEq + Debug>(&self, got: T, want: T, contract: &str) {
        if got != want {
            self.fail(format_args!(
                "{contract}\n  got:  {got:?}\n  want: {want:?}"
            ));
        }
    }

    /// Equality without printing the values (for multi-megabyte ones).
    pub(super) fn same<T: PartialEq>(&self, got: &T, want: &T, contract: &str) {
        if got != want {
            self.fail(format_args!(
                "{contract} (values differ; too large to print)"
            ));
        }
    }

    pub(super) fn truth(&self, cond: bool, contract: &str) {
        if !cond {
            self.fail(format_args!("{contract}"));
        }
    }
}

/// Polls every future of `futures` on each wake-up until all are done, and
/// returns their outputs in order. A tiny executor-free `join_all`, so the
/// battery needs no runtime.
async fn join_all<F: Future + Unpin>(futures: Vec<F>) -> Vec<F::Output> {
    let mut slots: Vec<Option<F>> = futures.into_iter().map(Some).collect();
    let mut outputs: Vec<Option<F::Output>> = slots.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, output) in slots.iter_mut().zip(outputs.iter_mut()) {
            if let Some(fut) = slot {
                match Pin::new(fut).poll(cx) {
                    Poll::Ready(v) => {
                        *output = Some(v);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.unwrap_or_else(|| unreachable!("join_all finished with a pending future")))
        .collect()
}

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/// Keys that trip naive key encodings: empty, Unicode, prefixes of each
/// other, separators and NUL.
pub(super) const TRICKY_KEYS: &[&str] = &[
    "",
    "5511987650001.0",
    "5511987650001.01",
    "5511987650001.1",
    "5511987650001",
    "ção:1@s.whatsapp.net 🙂",
    "a\0b",
    "a",
    "a:b",
    "a\u{10FFFF}",
];

/// One MiB is 1 << 20 bytes; sessions may reach several.
const LARGE: usize = 4 << 20;

/// A deterministic byte pattern of `len` bytes, different for each `seed`.
pub(super) fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u8)
                .wrapping_mul(31)
                .wrapping_add(seed)
                .rotate_left((i % 7) as u32)
        })
        .collect()
}

fn key_pair(seed: u8) -> KeyPair {
    KeyPair {
        private: std::array::from_fn(|i| seed.wrapping_add(i as u8)),
        public: std::array::from_fn(|i| seed.wrapping_mul(3).wrapping_add(i as u8)),
    }
}

/// A device with every optional field set, varied by `seed`.
fn full_device(seed: u8) -> Device {
    let mut d = Device::from_keys(DeviceKeys {
        noise_key: key_pair(seed),
        identity_key: key_pair(seed.wrapping_add(1)),
        registration_id: 0x7fff_fff0 - u32::from(seed),
        signed_pre_key: key_pair(seed.wrapping_add(2)),
        signed_pre_key_id: 1,
        signed_pre_key_signature: std::array::from_fn(|i| seed ^ (i as u8)),
        adv_secret_key: std::array::from_fn(|i| seed.wrapping_sub(i as u8)),
    });
    d.account = Some(pattern(seed, 300));
    d.pn = Some(Jid::pn(&format!("55119876500{seed:02}")).with_device(7));
    d.lid = Some(Jid::lid(&format!("1000000123456{seed:02}")).with_device(7));
    d.push_name = format!("Zoë {seed} 🙂");
    d.business_name = Some("Padaria São João".into());
    d.platform = Some("android".into());
    d.edge_routing_info = Some(pattern(seed.wrapping_add(9), 17));
    d.server_cert_chain = Some(CachedServerCertChain {
        intermediate: CachedNoiseCert {
            key: [seed; 32],
            not_before: -1,
            not_after: i64::MAX,
        },
        leaf: CachedNoiseCert {
            key: [!seed; 32],
            not_before: 1_700_000_000,
            not_after: 1_800_000_000,
        },
    });
    d.login_counter = i32::from(seed) + 3;
    d.lid_migrated = true;
    d.app_version = Some(AppVersion {
        primary: 2,
        secondary: 3000,
        tertiary: 1_045_368_834,
    });
    d.app_version_last_fetched_ms = 1_700_000_000_123;
    d.props_hash = Some(format!("hash-{seed}"));
    d.next_pre_key_id = 813 + u32::from(seed);
    d.first_unupload_pre_key_id = 800;
    d.server_has_prekeys = true;
    d.last_signed_pre_key_rotation_ms = 1_700_000_000_456;
    d
}

fn mapping(lid: &str, phone: &str, updated_at: i64) -> LidPnMappingEntry {
    LidPnMappingEntry {
        lid: lid.into(),
        phone_number: phone.into(),
        created_at: updated_at - 10,
        updated_at,
        learning_source: "usync".into(),
    }
}

fn mac(index: &[u8], value: &[u8]) -> AppStateMutationMAC {
    AppStateMutationMAC {
        index_mac: index.to_vec(),
        value_mac: value.to_vec(),
    }
}

fn hash_state(version: u64) -> HashState {
    HashState {
        version,
        hash: std::array::from_fn(|i| (i as u8) ^ (version as u8)),
    }
}

fn tc(token: &[u8], token_timestamp: i64, sender_timestamp: Option<i64>) -> TcTokenEntry {
    TcTokenEntry {
        token: token.to_vec(),
        token_timestamp,
        sender_timestamp,
    }
}

// ---------------------------------------------------------------------------
// SignalStore
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// AppSyncStore
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// ProtocolStore
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// DeviceStore
// ---------------------------------------------------------------------------

/// Device: nothing at first, save/load round trip of every field, overwrite.
pub async fn device_save_load<S: DeviceStore + ?Sized>(s: &S) {
    let c = Check("device::save_load");
    c.eq(
        c.ok(s.exists().await, "exists"),
        false,
        "a fresh store has no device",
    );
    c.eq(
        c.ok(s.load().await, "load"),
        None,
        "a fresh store loads no device",
    );
    let minimal = Device::from_keys(DeviceKeys {
        noise_key: key_pair(1),
        identity_key: key_pair(2),
        registration_id: 1,
        signed_pre_key: key_pair(3),
        signed_pre_key_id: 1,
        signed_pre_key_signature: [0; 64],
        adv_secret_key: [9; 32],
    });
    c.ok(s.save(&minimal).await, "save");
    c.eq(
        c.ok(s.exists().await, "exists"),
        true,
        "exists is true after save",
    );
    c.eq(
        c.ok(s.load().await, "load"),
        Some(minimal),
        "save then load returns the device",
    );
    let full = full_device(7);
    c.ok(s.save(&full).await, "save");
    c.eq(
        c.ok(s.load().await, "load"),
        Some(full.clone()),
        "a second save replaces the device, every field round-trips",
    );
    let mut bumped = full;
    bumped.login_counter += 1;
    bumped.pn = None;
    bumped.server_cert_chain = None;
    c.ok(s.save(&bumped).await, "save");
    c.eq(
        c.ok(s.load().await, "load"),
        Some(bumped),
        "save replaces optional fields with None too",
    );
}

/// `create` returns positive ids that differ from every earlier one.
pub async fn device_create<S: DeviceStore + ?Sized>(s: &S) {
    let c = Check("device::create");
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(c.ok(s.create().await, "create"));
    }
    c.truth(
        ids.iter().all(|&id| id > 0),
        "create returns positive device ids",
    );
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    c.eq(
        unique.len(),
        ids.len(),
        "create never returns the same id twice",
    );
    c.eq(
        c.ok(s.exists().await, "exists"),
        false,
        "create does not save a device for this handle",
    );
}

/// `snapshot_db` succeeds with and without an extra blob, twice under one
/// name, and leaves the live data unchanged.
pub async fn device_snapshot<S: DeviceStore + ?Sized>(s: &S) {
    let c = Check("device::snapshot");
    c.ok(
        s.snapshot_db("empty", None).await,
        "snapshot_db of an empty store",
    );
    let device = full_device(3);
    c.ok(s.save(&device).await, "save");
    c.ok(
        s.snapshot_db("after-save", Some(b"the input that failed"))
            .await,
        "snapshot_db with an extra blob",
    );
    c.ok(
        s.snapshot_db("after-save", Some(&pattern(1, 1 << 16)))
            .await,
        "snapshot_db twice under one name",
    );
    c.ok(
        s.snapshot_db("ünïcödé name", Some(b"")).await,
        "snapshot_db with a Unicode name and an empty blob",
    );
    c.eq(
        c.ok(s.load().await, "load"),
        Some(device),
        "snapshot_db leaves the live data unchanged",
    );
}

// ---------------------------------------------------------------------------
// Isolation
// ---------------------------------------------------------------------------

/// Rows written through one device id are invisible through another, and
/// deletes, clears, takes and sweeps through one never touch the other.
pub async fn isolation_between_device_ids<S: Backend + ?Sized>(a: &S, b: &S) {
    let c = Check("isolation::between_device_ids");
    let addr = "5511987650001.0";
    let group = "120363021033254949@g.us";
    let chat = "5511987650001@s.whatsapp.net";
    // Fill every family through `a`.
    c.ok(a.put_identity(addr, [1; 32]).await, "put_identity");
    c.ok(a.put_session(addr, b"sa").await, "put_session");
    c.ok(a.store_prekey(5, b"pa", false).await, "store_prekey");
    c.ok(
        a.store_signed_prekey(1, b"spa").await,
        "store_signed_prekey",
    );
    c.ok(a.put_sender_key(addr, b"ska").await, "put_sender_key");
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
        a.set_sender_key_status(group, &[(chat, true)]).await,
        "set_sender_key_status",
    );
    c.ok(
        a.put_lid_mapping(&mapping("100", "5511", 1)).await,
        "put_lid_mapping",
    );
    c.ok(a.save_base_key(addr, "m", b"ba").await, "save_base_key");
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
        a.put_tc_token(chat, &tc(b"ta", 10, None)).await,
        "put_tc_token",
    );
    c.ok(
        a.store_sent_message(chat, "m", b"pa", 10).await,
        "store_sent_message",
    );
    c.ok(a.save(&full_device(1)).await, "save");

    let none = "rows written for one device id must be invisible to another";
    c.eq(
        c.ok(b.load_identity(addr).await, "load_identity"),
        None,
        none,
    );
    c.eq(c.ok(b.get_session(addr).await, "get_session"), None, none);
    c.eq(c.ok(b.has_session(addr).await, "has_session"), false, none);
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
        c.ok(b.get_sender_key(addr).await, "get_sender_key"),
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
            b.get_sender_key_devices(group).await,
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
            b.has_same_base_key(addr, "m", b"ba").await,
            "has_same_base_key",
        ),
        false,
        none,
    );
    c.eq(c.ok(b.get_devices("5511").await, "get_devices"), None, none);
    c.eq(c.ok(b.get_tc_token(chat).await, "get_tc_token"), None, none);
    c.eq(
        c.ok(b.get_all_tc_token_jids().await, "get_all_tc_token_jids"),
        Vec::<String>::new(),
        none,
    );
    c.eq(
        c.ok(b.take_sent_message(chat, "m").await, "take_sent_message"),
        None,
        none,
    );
    c.eq(c.ok(b.exists().await, "exists"), false, none);
    c.eq(c.ok(b.load().await, "load"), None, none);

    // Same keys, other values through `b`; then destroy everything through `b`.
    c.ok(b.put_session(addr, b"sb").await, "put_session");
    c.ok(b.store_prekey(5, b"pb", true).await, "store_prekey");
    c.ok(
        b.put_lid_mapping(&mapping("100", "5511", 2)).await,
        "put_lid_mapping",
    );
    c.ok(b.save(&full_device(2)).await, "save");
    c.eq(
        c.ok(a.get_session(addr).await, "get_session"),
        Some(Bytes::from_static(b"sa")),
        "a write for one device id must not replace another's row",
    );
    c.eq(
        c.ok(a.load().await, "load"),
        Some(full_device(1)),
        "a write for one device id must not replace another's device",
    );
    c.ok(b.delete_identity(addr).await, "delete_identity");
    c.ok(b.delete_session(addr).await, "delete_session");
    c.ok(b.remove_prekey(5).await, "remove_prekey");
    c.ok(b.mark_prekeys_uploaded(&[5]).await, "mark_prekeys_uploaded");
    c.ok(b.remove_signed_prekey(1).await, "remove_signed_prekey");
    c.ok(b.delete_sender_key(addr).await, "delete_sender_key");
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
        b.clear_sender_key_devices(group).await,
        "clear_sender_key_devices",
    );
    c.ok(b.delete_base_key(addr, "m").await, "delete_base_key");
    c.ok(b.delete_devices("5511").await, "delete_devices");
    c.ok(b.delete_tc_token(chat).await, "delete_tc_token");
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

    let kept = "deletes, clears and sweeps for one device id must not touch another's rows";
    c.eq(
        c.ok(a.load_identity(addr).await, "load_identity"),
        Some([1; 32]),
        kept,
    );
    c.eq(
        c.ok(a.get_session(addr).await, "get_session"),
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
        c.ok(a.get_sender_key(addr).await, "get_sender_key"),
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
            a.get_sender_key_devices(group).await,
            "get_sender_key_devices",
        ),
        vec![(chat.to_owned(), true)],
        kept,
    );
    c.eq(
        c.ok(a.get_pn_mapping("5511").await, "get_pn_mapping"),
        Some(mapping("100", "5511", 1)),
        kept,
    );
    c.eq(
        c.ok(
            a.has_same_base_key(addr, "m", b"ba").await,
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
        c.ok(a.get_tc_token(chat).await, "get_tc_token"),
        Some(tc(b"ta", 10, None)),
        kept,
    );
    c.eq(
        c.ok(a.take_sent_message(chat, "m").await, "take_sent_message"),
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
