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

mod app_sync;
mod device;
mod isolation;
mod protocol;
mod signal;

pub use app_sync::*;
pub use device::*;
pub use isolation::*;
pub use protocol::*;
pub use signal::*;

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

    fn truth(&self, cond: bool, contract: &str) {
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
pub(crate) fn full_device(seed: u8) -> Device {
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
