//! The one error type every store method returns.

use std::error::Error as StdError;

/// A boxed error from a backend's own engine (redb, SQLite, a remote service, ...).
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// The result of every store method.
pub type StoreResult<T> = Result<T, StoreError>;

/// Why a store call failed.
///
/// Each variant says what went wrong and, where the caller can act, what to do.
/// Backends map their engine's errors onto these; new variants may be added, so
/// match with a wildcard arm.
///
/// ```
/// use wa_core::store::StoreError;
///
/// let err = StoreError::corrupt("sessions_v1", "5511987650001.0", "postcard: unexpected end");
/// let text = err.to_string();
/// assert!(text.contains("sessions_v1") && text.contains("5511987650001.0"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The operating system refused a read, a write or an fsync (disk full,
    /// permission denied, ...). The call had no effect unless the backend
    /// documents otherwise; the cause is the error's [`source`](StdError::source).
    #[error("store i/o failed")]
    Io(#[from] std::io::Error),

    /// A value could not be encoded, or decoded outside any stored record (for a
    /// stored record that does not decode, backends return [`StoreError::Corrupt`]).
    #[error("store serialization failed")]
    Serialization(#[source] BoxError),

    /// A stored record does not decode or breaks an invariant. The store did
    /// not guess a value; the record is left as it was for inspection.
    #[error(
        "corrupt record in table {table} at key {key}: {detail} \
         (restore a snapshot or backup, or delete this record to rebuild it)"
    )]
    Corrupt {
        /// The table (or record family) holding the record, e.g. `sessions_v1`.
        table: String,
        /// A printable form of the record's key.
        key: String,
        /// What is wrong with it.
        detail: String,
    },

    /// The store was written by a newer version of the software; it is refused
    /// rather than misread.
    #[error(
        "store schema version {found} is newer than the supported version {supported}; \
         open it with a newer release"
    )]
    SchemaTooNew {
        /// The schema version found in the store.
        found: u32,
        /// The newest schema version this build reads.
        supported: u32,
    },

    /// No device with this id exists in the store.
    #[error("device {0} not found")]
    DeviceNotFound(i32),

    /// The caller passed a value the store cannot accept (too large, malformed, ...).
    #[error("invalid store input: {0}")]
    InvalidInput(String),

    /// The backend's own engine failed; the cause is the error's
    /// [`source`](StdError::source).
    #[error("store backend failed")]
    Backend(#[source] BoxError),

    /// The backend does not implement an optional part of the store contract
    /// (it predates it). Nothing was read or written. `feature` names the part,
    /// e.g. `"inbox"`; `consequence` says what the client loses without it.
    #[error("this store backend has no {feature}: {consequence}")]
    Unsupported {
        /// The missing part of the contract, e.g. `inbox`.
        feature: &'static str,
        /// What the client cannot do without it.
        consequence: &'static str,
    },
}

impl StoreError {
    /// A [`StoreError::Corrupt`] naming the table, the key and the defect.
    pub fn corrupt(
        table: impl Into<String>,
        key: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self::Corrupt {
            table: table.into(),
            key: key.into(),
            detail: detail.into(),
        }
    }

    /// A [`StoreError::Backend`] wrapping an engine error (anything that
    /// converts into [`BoxError`], including a `String`).
    pub fn backend(err: impl Into<BoxError>) -> Self {
        Self::Backend(err.into())
    }

    /// The [`StoreError::Unsupported`] error of a backend without the durable
    /// inbox (the default of [`ProtocolStore::put_inbox`],
    /// [`ProtocolStore::remove_inbox`] and [`ProtocolStore::list_inbox`]).
    ///
    /// [`ProtocolStore::put_inbox`]: super::ProtocolStore::put_inbox
    /// [`ProtocolStore::remove_inbox`]: super::ProtocolStore::remove_inbox
    /// [`ProtocolStore::list_inbox`]: super::ProtocolStore::list_inbox
    pub fn no_inbox() -> Self {
        Self::Unsupported {
            feature: "inbox",
            consequence: "decrypted messages are not kept until acknowledged, \
                          so delivery across a crash is not guaranteed",
        }
    }

    /// Whether this is [`StoreError::Unsupported`] (an optional part of the
    /// contract the backend lacks), as opposed to a failure.
    pub fn is_unsupported(&self) -> bool {
        matches!(self, Self::Unsupported { .. })
    }

    /// A [`StoreError::Serialization`] wrapping an encoder or decoder error.
    pub fn serialization(err: impl Into<BoxError>) -> Self {
        Self::Serialization(err.into())
    }
}

impl From<postcard::Error> for StoreError {
    fn from(err: postcard::Error) -> Self {
        Self::Serialization(Box::new(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_names_table_key_and_remedy() {
        let e = StoreError::corrupt("prekeys_v1", "42", "truncated record");
        let s = e.to_string();
        assert!(s.contains("prekeys_v1"), "{s}");
        assert!(s.contains("at key 42"), "{s}");
        assert!(s.contains("truncated record"), "{s}");
        assert!(s.contains("restore a snapshot"), "{s}");
    }

    #[test]
    fn schema_too_new_names_both_versions() {
        let s = StoreError::SchemaTooNew {
            found: 7,
            supported: 2,
        }
        .to_string();
        assert!(
            s.contains('7') && s.contains('2') && s.contains("newer release"),
            "{s}"
        );
    }

    #[test]
    fn no_inbox_names_the_feature_and_the_consequence() {
        let e = StoreError::no_inbox();
        assert!(e.is_unsupported());
        assert!(!StoreError::InvalidInput("x".into()).is_unsupported());
        let s = e.to_string();
        assert!(s.contains("no inbox"), "{s}");
        assert!(s.contains("crash"), "{s}");
        assert!(e.source().is_none());
    }

    #[test]
    fn sources_are_kept_for_wrapped_errors() {
        let e = StoreError::backend("disk on fire");
        assert_eq!(
            e.source().map(|s| s.to_string()).as_deref(),
            Some("disk on fire")
        );
        let e = StoreError::from(std::io::Error::other("eio"));
        assert_eq!(e.to_string(), "store i/o failed");
        assert_eq!(e.source().unwrap().to_string(), "eio");
        let bad: Result<u32, _> = postcard::from_bytes::<u32>(&[]);
        let e = StoreError::from(bad.unwrap_err());
        assert!(matches!(e, StoreError::Serialization(_)));
        assert!(e.source().is_some());
    }
}
