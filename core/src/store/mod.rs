//! Store contracts: everything a client persists, behind four traits.
//!
//! - [`SignalStore`]: identities, sessions, prekeys, signed prekeys, sender keys.
//! - [`AppSyncStore`]: app-state sync keys, collection versions, mutation MACs.
//! - [`ProtocolStore`]: sender-key tracking, LID ↔ PN mappings, base keys,
//!   device lists, trusted-contact tokens, sent messages kept for retries, the
//!   inbox of decrypted messages awaiting acknowledgement.
//! - [`DeviceStore`]: the device's own record ([`Device`]), device ids, snapshots.
//!
//! [`Backend`] is all four at once and is implemented automatically. The crate
//! ships [`MemoryStore`], the reference in-memory backend; `wa-store-redb` ships
//! the persistent one. The contracts every backend keeps are listed in the
//! [`traits`] module docs and checked by `conformance` (feature
//! `conformance`), a test battery any backend can run against itself.
//!
//! # Example
//!
//! ```
//! use wa_core::store::{MemoryStore, SignalStore, ProtocolStore};
//!
//! smol::block_on(async {
//!     let store = MemoryStore::new();
//!     store.put_session("5511987650001.0", b"session bytes").await?;
//!     assert_eq!(store.get_session("5511987650001.0").await?.as_deref(), Some(&b"session bytes"[..]));
//!
//!     store.store_sent_message("123@g.us", "3EB0A1", b"payload", 1_700_000_000).await?;
//!     assert!(store.take_sent_message("123@g.us", "3EB0A1").await?.is_some());
//!     assert!(store.take_sent_message("123@g.us", "3EB0A1").await?.is_none());
//!     Ok::<_, wa_core::store::StoreError>(())
//! })
//! .unwrap();
//! ```

mod batch;
mod error;
mod memory;
pub mod traits;
mod types;

#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "conformance")]
pub mod conformance_batch;
#[cfg(feature = "conformance")]
pub mod conformance_inbox;

pub use batch::{SignedPreKeyUpdate, WriteBatch, WriteOp, apply_batch};
pub use error::{BoxError, StoreError, StoreResult};
pub use memory::MemoryStore;
pub use traits::{AppSyncStore, Backend, DeviceStore, ProtocolStore, SignalStore};
pub use types::{
    AppStateMutationMAC, AppStateSyncKey, AppVersion, CachedNoiseCert, CachedServerCertChain,
    Device, DeviceInfo, DeviceKeys, DeviceListRecord, HashState, InboxEntry, KeyPair,
    LidPnMappingEntry, TcTokenEntry,
};
