//! The public conformance battery against `MemoryStore`, and proof that the
//! battery can fail: stores that break one contract each are caught by the
//! check for that contract (and only by it).

use std::panic::{AssertUnwindSafe, catch_unwind};

use async_trait::async_trait;
use wa_core::store::conformance::{self, StorePair};
use wa_core::store::{
    DeviceListRecord, DeviceStore, LidPnMappingEntry, MemoryStore, ProtocolStore, SignalStore,
    StoreResult, TcTokenEntry,
};

async fn memory_pair() -> StorePair<MemoryStore> {
    let primary = MemoryStore::new();
    let id = primary.create().await.expect("create");
    let secondary = primary.for_device(id);
    StorePair { primary, secondary }
}

#[test]
fn memory_store_passes_the_whole_battery() {
    smol::block_on(conformance::run_all(memory_pair));
}

#[test]
fn memory_store_passes_each_group_with_single_store_factories() {
    smol::block_on(async {
        conformance::signal_store(|| async { MemoryStore::new() }).await;
        conformance::app_sync_store(|| async { MemoryStore::new() }).await;
        conformance::protocol_store(|| async { MemoryStore::new() }).await;
        conformance::device_store(|| async { MemoryStore::new() }).await;
        conformance::isolation(memory_pair).await;
    });
}

#[test]
fn handles_from_for_device_on_separate_ids_pass_isolation_both_ways() {
    smol::block_on(async {
        let root = MemoryStore::new();
        let a = root.for_device(40);
        let b = root.for_device(41);
        conformance::isolation_between_device_ids(&a, &b).await;
        let root = MemoryStore::new();
        conformance::isolation_between_device_ids(&root.for_device(41), &root.for_device(40)).await;
    });
}

/// A store whose handles share one device id must fail the isolation check.
#[test]
fn a_pair_on_one_device_id_fails_isolation() {
    let msg = panic_message(|| {
        smol::block_on(conformance::isolation(|| async {
            let primary = MemoryStore::new();
            let secondary = primary.for_device(MemoryStore::DEFAULT_DEVICE_ID);
            StorePair { primary, secondary }
        }))
    });
    assert!(msg.contains("isolation::between_device_ids"), "{msg}");
    assert!(msg.contains("invisible to another"), "{msg}");
}

/// The contract a [`Broken`] store breaks.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    /// No bug: a plain pass-through.
    None,
    /// `take_sent_message` reads without removing: every taker gets the payload.
    TakeDoesNotRemove,
    /// `delete_expired_sent_messages` also deletes the row stamped at the cut-off.
    ExpiryInclusive,
    /// `get_pn_mapping` returns the oldest mapping instead of the newest.
    PnOldestWins,
    /// `mark_prekeys_uploaded` upserts, resurrecting removed keys.
    MarkResurrects,
    /// `take_sent_message` reads, yields, then deletes: correct alone, racy
    /// under concurrency.
    TakeNotAtomic,
}

/// `MemoryStore` with one deliberate bug.
struct Broken {
    inner: MemoryStore,
    fault: Fault,
}

impl Broken {
    fn new(fault: Fault) -> Self {
        Self {
            inner: MemoryStore::new(),
            fault,
        }
    }
}

#[async_trait]
impl SignalStore for Broken {
    async fn put_identity(&self, a: &str, k: [u8; 32]) -> StoreResult<()> {
        self.inner.put_identity(a, k).await
    }
    async fn load_identity(&self, a: &str) -> StoreResult<Option<[u8; 32]>> {
        self.inner.load_identity(a).await
    }
    async fn delete_identity(&self, a: &str) -> StoreResult<()> {
        self.inner.delete_identity(a).await
    }
    async fn get_session(&self, a: &str) -> StoreResult<Option<bytes::Bytes>> {
        self.inner.get_session(a).await
    }
    async fn put_session(&self, a: &str, s: &[u8]) -> StoreResult<()> {
        self.inner.put_session(a, s).await
    }
    async fn delete_session(&self, a: &str) -> StoreResult<()> {
        self.inner.delete_session(a).await
    }
    async fn store_prekey(&self, id: u32, r: &[u8], up: bool) -> StoreResult<()> {
        self.inner.store_prekey(id, r, up).await
    }
    async fn load_prekey(&self, id: u32) -> StoreResult<Option<bytes::Bytes>> {
        self.inner.load_prekey(id).await
    }
    async fn is_prekey_uploaded(&self, id: u32) -> StoreResult<Option<bool>> {
        self.inner.is_prekey_uploaded(id).await
    }
    async fn mark_prekeys_uploaded(&self, ids: &[u32]) -> StoreResult<()> {
        if self.fault == Fault::MarkResurrects {
            for &id in ids {
                let record = self.inner.load_prekey(id).await?.unwrap_or_default();
                self.inner.store_prekey(id, &record, true).await?;
            }
            return Ok(());
        }
        self.inner.mark_prekeys_uploaded(ids).await
    }
    async fn remove_prekey(&self, id: u32) -> StoreResult<()> {
        self.inner.remove_prekey(id).await
    }
    async fn get_max_prekey_id(&self) -> StoreResult<u32> {
        self.inner.get_max_prekey_id().await
    }
    async fn store_signed_prekey(&self, id: u32, r: &[u8]) -> StoreResult<()> {
        self.inner.store_signed_prekey(id, r).await
    }
    async fn load_signed_prekey(&self, id: u32) -> StoreResult<Option<Vec<u8>>> {
        self.inner.load_signed_prekey(id).await
    }
    async fn load_all_signed_prekeys(&self) -> StoreResult<Vec<(u32, Vec<u8>)>> {
        self.inner.load_all_signed_prekeys().await
    }
    async fn remove_signed_prekey(&self, id: u32) -> StoreResult<()> {
        self.inner.remove_signed_prekey(id).await
    }
    async fn put_sender_key(&self, a: &str, r: &[u8]) -> StoreResult<()> {
        self.inner.put_sender_key(a, r).await
    }
    async fn get_sender_key(&self, a: &str) -> StoreResult<Option<Vec<u8>>> {
        self.inner.get_sender_key(a).await
    }
    async fn delete_sender_key(&self, a: &str) -> StoreResult<()> {
        self.inner.delete_sender_key(a).await
    }
}

#[async_trait]
impl ProtocolStore for Broken {
    async fn get_sender_key_devices(&self, g: &str) -> StoreResult<Vec<(String, bool)>> {
        self.inner.get_sender_key_devices(g).await
    }
    async fn set_sender_key_status(&self, g: &str, e: &[(&str, bool)]) -> StoreResult<()> {
        self.inner.set_sender_key_status(g, e).await
    }
    async fn clear_sender_key_devices(&self, g: &str) -> StoreResult<()> {
        self.inner.clear_sender_key_devices(g).await
    }
    async fn get_lid_mapping(&self, lid: &str) -> StoreResult<Option<LidPnMappingEntry>> {
        self.inner.get_lid_mapping(lid).await
    }
    async fn get_pn_mapping(&self, phone: &str) -> StoreResult<Option<LidPnMappingEntry>> {
        if self.fault == Fault::PnOldestWins {
            let all = self.inner.get_all_lid_mappings().await?;
            return Ok(all
                .into_iter()
                .filter(|m| m.phone_number == phone)
                .min_by_key(|m| m.updated_at));
        }
        self.inner.get_pn_mapping(phone).await
    }
    async fn put_lid_mapping(&self, e: &LidPnMappingEntry) -> StoreResult<()> {
        self.inner.put_lid_mapping(e).await
    }
    async fn get_all_lid_mappings(&self) -> StoreResult<Vec<LidPnMappingEntry>> {
        self.inner.get_all_lid_mappings().await
    }
    async fn save_base_key(&self, a: &str, m: &str, k: &[u8]) -> StoreResult<()> {
        self.inner.save_base_key(a, m, k).await
    }
    async fn has_same_base_key(&self, a: &str, m: &str, k: &[u8]) -> StoreResult<bool> {
        self.inner.has_same_base_key(a, m, k).await
    }
    async fn delete_base_key(&self, a: &str, m: &str) -> StoreResult<()> {
        self.inner.delete_base_key(a, m).await
    }
    async fn update_device_list(&self, r: DeviceListRecord) -> StoreResult<()> {
        self.inner.update_device_list(r).await
    }
    async fn get_devices(&self, u: &str) -> StoreResult<Option<DeviceListRecord>> {
        self.inner.get_devices(u).await
    }
    async fn delete_devices(&self, u: &str) -> StoreResult<()> {
        self.inner.delete_devices(u).await
    }
    async fn get_tc_token(&self, j: &str) -> StoreResult<Option<TcTokenEntry>> {
        self.inner.get_tc_token(j).await
    }
    async fn put_tc_token(&self, j: &str, e: &TcTokenEntry) -> StoreResult<()> {
        self.inner.put_tc_token(j, e).await
    }
    async fn delete_tc_token(&self, j: &str) -> StoreResult<()> {
        self.inner.delete_tc_token(j).await
    }
    async fn get_all_tc_token_jids(&self) -> StoreResult<Vec<String>> {
        self.inner.get_all_tc_token_jids().await
    }
    async fn delete_expired_tc_tokens(&self, t: i64, s: i64) -> StoreResult<u32> {
        self.inner.delete_expired_tc_tokens(t, s).await
    }
    async fn store_sent_message(&self, c: &str, m: &str, p: &[u8], at: i64) -> StoreResult<()> {
        self.inner.store_sent_message(c, m, p, at).await
    }
    async fn take_sent_message(&self, c: &str, m: &str) -> StoreResult<Option<Vec<u8>>> {
        if self.fault == Fault::TakeDoesNotRemove {
            // Read by taking and putting back: the row is never consumed.
            let got = self.inner.take_sent_message(c, m).await?;
            if let Some(p) = &got {
                self.inner.store_sent_message(c, m, p, 0).await?;
            }
            return Ok(got);
        }
        if self.fault == Fault::TakeNotAtomic {
            // Read (take and put back), let other tasks run, then delete.
            let read = self.inner.take_sent_message(c, m).await?;
            if let Some(p) = &read {
                self.inner.store_sent_message(c, m, p, 0).await?;
            }
            futures_lite::future::yield_now().await;
            self.inner.take_sent_message(c, m).await?;
            return Ok(read);
        }
        self.inner.take_sent_message(c, m).await
    }
    async fn delete_expired_sent_messages(&self, cutoff: i64) -> StoreResult<u32> {
        let cutoff = if self.fault == Fault::ExpiryInclusive {
            cutoff.saturating_add(1)
        } else {
            cutoff
        };
        self.inner.delete_expired_sent_messages(cutoff).await
    }
}

/// Runs `f`, expects it to panic, and returns the panic message.
fn panic_message(f: impl FnOnce()) -> String {
    let err =
        catch_unwind(AssertUnwindSafe(f)).expect_err("the conformance check should have failed");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

/// Runs each listed check on a fresh `Broken` store with `fault` and returns
/// the names of the checks that panicked.
fn failing_checks(fault: Fault) -> Vec<&'static str> {
    let mut failed = Vec::new();
    macro_rules! run {
        ($($check:ident),* $(,)?) => {$(
            let store = Broken::new(fault);
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                smol::block_on(conformance::$check(&store))
            }));
            if outcome.is_err() {
                failed.push(stringify!($check));
            }
        )*};
    }
    run!(
        signal_identities,
        signal_sessions,
        signal_prekeys,
        signal_prekeys_batch,
        signal_mark_prekeys_uploaded,
        signal_max_prekey_id,
        protocol_lid_mappings,
        protocol_pn_mapping_newest_wins,
        protocol_tc_token_expiry,
        protocol_sent_messages,
        protocol_sent_message_expiry,
        protocol_sent_message_take_once,
        protocol_key_edge_cases,
    );
    failed
}

#[test]
fn the_trait_default_methods_pass_the_signal_and_protocol_groups() {
    // `Broken` implements only the required methods, so `has_session`,
    // `put_sessions_batch`, `store_prekeys_batch`, `load_prekeys_batch` and
    // `put_lid_mappings` run on the trait's default loops here.
    smol::block_on(async {
        conformance::signal_store(|| async { Broken::new(Fault::None) }).await;
        conformance::protocol_store(|| async { Broken::new(Fault::None) }).await;
    });
}

#[test]
fn the_wrapper_without_a_fault_passes_every_listed_check() {
    // Control: the failures below come from the faults, not from the wrapper.
    assert_eq!(failing_checks(Fault::None), Vec::<&str>::new());
}

#[test]
fn a_take_that_does_not_remove_is_caught() {
    assert_eq!(
        failing_checks(Fault::TakeDoesNotRemove),
        ["protocol_sent_messages", "protocol_sent_message_take_once"]
    );
    let msg = panic_message(|| {
        smol::block_on(conformance::protocol_sent_messages(&Broken::new(
            Fault::TakeDoesNotRemove,
        )))
    });
    assert!(msg.contains("\"protocol::sent_messages\""), "{msg}");
    assert!(
        msg.contains("take_sent_message returns a payload only once"),
        "{msg}"
    );
}

#[test]
fn a_take_that_reads_then_deletes_is_caught_only_by_the_concurrent_check() {
    assert_eq!(
        failing_checks(Fault::TakeNotAtomic),
        ["protocol_sent_message_take_once"]
    );
    let msg = panic_message(|| {
        smol::block_on(conformance::protocol_sent_message_take_once(&Broken::new(
            Fault::TakeNotAtomic,
        )))
    });
    assert!(msg.contains("exactly one gets the payload"), "{msg}");
    assert!(msg.contains("got:  16"), "{msg}");
}

#[test]
fn an_inclusive_expiry_boundary_is_caught() {
    assert_eq!(
        failing_checks(Fault::ExpiryInclusive),
        ["protocol_sent_message_expiry"]
    );
    let msg = panic_message(|| {
        smol::block_on(conformance::protocol_sent_message_expiry(&Broken::new(
            Fault::ExpiryInclusive,
        )))
    });
    assert!(msg.contains("sent_at < cutoff"), "{msg}");
}

#[test]
fn oldest_wins_phone_lookup_is_caught() {
    assert_eq!(
        failing_checks(Fault::PnOldestWins),
        ["protocol_pn_mapping_newest_wins"]
    );
}

#[test]
fn a_resurrecting_mark_uploaded_is_caught() {
    assert_eq!(
        failing_checks(Fault::MarkResurrects),
        ["signal_mark_prekeys_uploaded"]
    );
    let msg = panic_message(|| {
        smol::block_on(conformance::signal_mark_prekeys_uploaded(&Broken::new(
            Fault::MarkResurrects,
        )))
    });
    assert!(msg.contains("must not resurrect a removed prekey"), "{msg}");
}
