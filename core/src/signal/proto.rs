//! The Signal protobufs: the wire messages (`wire.proto` in libsignal, proto2)
//! and the storage records (`storage.proto`), with `prost` derive.
//!
//! Everything is proto2, as in WhatsApp's and libsignal-java's schemas: every
//! scalar is written when set, even to zero, because other implementations
//! refuse a message or record whose `counter`, `index`, `iteration` or `id` is
//! missing (a chain key at index 0 is the common case). Empty byte strings are
//! omitted. A record written here decodes in any libsignal-based client, and
//! the reverse. Public keys in
//! records and on the wire are 33 bytes (`0x05` ‖ X25519 key); private keys are
//! 32 bytes. Field numbers are listed in `docs/signal.md`.

/// A ratchet message (`type="msg"`), the protobuf between the version byte and
/// the 8-byte MAC.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SignalMessage {
    /// The sender's current ratchet public key (33 bytes).
    #[prost(bytes = "vec", optional, tag = "1")]
    pub ratchet_key: Option<Vec<u8>>,
    /// The message's index in the sender's chain.
    #[prost(uint32, optional, tag = "2")]
    pub counter: Option<u32>,
    /// The length of the sender's previous chain.
    #[prost(uint32, optional, tag = "3")]
    pub previous_counter: Option<u32>,
    /// AES-256-CBC ciphertext.
    #[prost(bytes = "vec", optional, tag = "4")]
    pub ciphertext: Option<Vec<u8>>,
}

/// A session-starting message (`type="pkmsg"`), after the version byte.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PreKeySignalMessage {
    /// The one-time prekey used, if any.
    #[prost(uint32, optional, tag = "1")]
    pub pre_key_id: Option<u32>,
    /// The sender's base (ephemeral) key (33 bytes).
    #[prost(bytes = "vec", optional, tag = "2")]
    pub base_key: Option<Vec<u8>>,
    /// The sender's identity key (33 bytes).
    #[prost(bytes = "vec", optional, tag = "3")]
    pub identity_key: Option<Vec<u8>>,
    /// A whole serialized [`SignalMessage`] (version byte, protobuf, MAC).
    #[prost(bytes = "vec", optional, tag = "4")]
    pub message: Option<Vec<u8>>,
    /// The sender's registration id.
    #[prost(uint32, optional, tag = "5")]
    pub registration_id: Option<u32>,
    /// The signed prekey used.
    #[prost(uint32, optional, tag = "6")]
    pub signed_pre_key_id: Option<u32>,
}

/// A group message (`type="skmsg"`), between the version byte and the 64-byte
/// signature.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SenderKeyMessage {
    /// The sender-key chain id.
    #[prost(uint32, optional, tag = "1")]
    pub id: Option<u32>,
    /// The message's iteration in the chain.
    #[prost(uint32, optional, tag = "2")]
    pub iteration: Option<u32>,
    /// AES-256-CBC ciphertext.
    #[prost(bytes = "vec", optional, tag = "3")]
    pub ciphertext: Option<Vec<u8>>,
}

/// A sender key handed to one recipient, after the version byte.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SenderKeyDistributionMessage {
    /// The sender-key chain id.
    #[prost(uint32, optional, tag = "1")]
    pub id: Option<u32>,
    /// The iteration of `chain_key`.
    #[prost(uint32, optional, tag = "2")]
    pub iteration: Option<u32>,
    /// The chain key at `iteration` (32 bytes).
    #[prost(bytes = "vec", optional, tag = "3")]
    pub chain_key: Option<Vec<u8>>,
    /// The sender's signing public key (33 bytes).
    #[prost(bytes = "vec", optional, tag = "4")]
    pub signing_key: Option<Vec<u8>>,
}

/// `RecordStructure`: a session record (the current state and archived ones).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RecordStructure {
    /// The state used to encrypt.
    #[prost(message, optional, tag = "1")]
    pub current_session: Option<SessionStructure>,
    /// Older states, newest first, still tried on decrypt.
    #[prost(message, repeated, tag = "2")]
    pub previous_sessions: Vec<SessionStructure>,
}

/// `SessionStructure`: one double-ratchet state.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionStructure {
    /// Session version (3).
    #[prost(uint32, optional, tag = "1")]
    pub session_version: Option<u32>,
    /// Our identity public key (33 bytes).
    #[prost(bytes = "vec", tag = "2")]
    pub local_identity_public: Vec<u8>,
    /// Their identity public key (33 bytes).
    #[prost(bytes = "vec", tag = "3")]
    pub remote_identity_public: Vec<u8>,
    /// Root key (32 bytes).
    #[prost(bytes = "vec", tag = "4")]
    pub root_key: Vec<u8>,
    /// Length of our previous sending chain.
    #[prost(uint32, optional, tag = "5")]
    pub previous_counter: Option<u32>,
    /// Our sending chain.
    #[prost(message, optional, tag = "6")]
    pub sender_chain: Option<session_structure::Chain>,
    /// Their sending chains we receive on, oldest first.
    #[prost(message, repeated, tag = "7")]
    pub receiver_chains: Vec<session_structure::Chain>,
    /// Legacy key exchange state: kept as read, never used.
    #[prost(message, optional, tag = "8")]
    pub pending_key_exchange: Option<session_structure::PendingKeyExchange>,
    /// Set on the initiator until the first reply arrives.
    #[prost(message, optional, tag = "9")]
    pub pending_pre_key: Option<session_structure::PendingPreKey>,
    /// Their registration id.
    #[prost(uint32, optional, tag = "10")]
    pub remote_registration_id: Option<u32>,
    /// Our registration id.
    #[prost(uint32, optional, tag = "11")]
    pub local_registration_id: Option<u32>,
    /// Legacy flag, kept as read.
    #[prost(bool, optional, tag = "12")]
    pub needs_refresh: Option<bool>,
    /// The initiator's base key (33 bytes): identifies the session.
    #[prost(bytes = "vec", tag = "13")]
    pub alice_base_key: Vec<u8>,
}

/// The parts of [`SessionStructure`].
pub mod session_structure {
    /// One ratchet chain.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Chain {
        /// The chain's ratchet public key (33 bytes).
        #[prost(bytes = "vec", tag = "1")]
        pub sender_ratchet_key: Vec<u8>,
        /// Its private key (32 bytes; our sending chain only).
        #[prost(bytes = "vec", tag = "2")]
        pub sender_ratchet_key_private: Vec<u8>,
        /// The next chain key.
        #[prost(message, optional, tag = "3")]
        pub chain_key: Option<chain::ChainKey>,
        /// Keys of skipped messages, newest first.
        #[prost(message, repeated, tag = "4")]
        pub message_keys: Vec<chain::MessageKey>,
    }

    /// The parts of [`Chain`].
    pub mod chain {
        /// A chain key and its index.
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct ChainKey {
            /// Index of the next message key.
            #[prost(uint32, optional, tag = "1")]
            pub index: Option<u32>,
            /// The key (32 bytes).
            #[prost(bytes = "vec", tag = "2")]
            pub key: Vec<u8>,
        }

        /// The keys of one skipped message.
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct MessageKey {
            /// The message's counter.
            #[prost(uint32, optional, tag = "1")]
            pub index: Option<u32>,
            /// AES key (32 bytes).
            #[prost(bytes = "vec", tag = "2")]
            pub cipher_key: Vec<u8>,
            /// MAC key (32 bytes).
            #[prost(bytes = "vec", tag = "3")]
            pub mac_key: Vec<u8>,
            /// CBC IV (16 bytes).
            #[prost(bytes = "vec", tag = "4")]
            pub iv: Vec<u8>,
        }
    }

    /// Legacy key-exchange state (never produced here).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PendingKeyExchange {
        /// Sequence.
        #[prost(uint32, optional, tag = "1")]
        pub sequence: Option<u32>,
        /// Base key.
        #[prost(bytes = "vec", tag = "2")]
        pub local_base_key: Vec<u8>,
        /// Base key, private.
        #[prost(bytes = "vec", tag = "3")]
        pub local_base_key_private: Vec<u8>,
        /// Ratchet key.
        #[prost(bytes = "vec", tag = "4")]
        pub local_ratchet_key: Vec<u8>,
        /// Ratchet key, private.
        #[prost(bytes = "vec", tag = "5")]
        pub local_ratchet_key_private: Vec<u8>,
        /// Identity key.
        #[prost(bytes = "vec", tag = "7")]
        pub local_identity_key: Vec<u8>,
        /// Identity key, private.
        #[prost(bytes = "vec", tag = "8")]
        pub local_identity_key_private: Vec<u8>,
    }

    /// What the initiator repeats in every message until the first reply.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PendingPreKey {
        /// The one-time prekey used (absent when none was).
        #[prost(uint32, optional, tag = "1")]
        pub pre_key_id: Option<u32>,
        /// Our base key (33 bytes).
        #[prost(bytes = "vec", tag = "2")]
        pub base_key: Vec<u8>,
        /// The signed prekey used.
        #[prost(int32, optional, tag = "3")]
        pub signed_pre_key_id: Option<i32>,
    }
}

/// `PreKeyRecordStructure`: a one-time prekey.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PreKeyRecordStructure {
    /// Key id.
    #[prost(uint32, optional, tag = "1")]
    pub id: Option<u32>,
    /// Public key (33 bytes).
    #[prost(bytes = "vec", tag = "2")]
    pub public_key: Vec<u8>,
    /// Private key (32 bytes).
    #[prost(bytes = "vec", tag = "3")]
    pub private_key: Vec<u8>,
}

/// `SignedPreKeyRecordStructure`: a signed prekey.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SignedPreKeyRecordStructure {
    /// Key id.
    #[prost(uint32, optional, tag = "1")]
    pub id: Option<u32>,
    /// Public key (33 bytes).
    #[prost(bytes = "vec", tag = "2")]
    pub public_key: Vec<u8>,
    /// Private key (32 bytes).
    #[prost(bytes = "vec", tag = "3")]
    pub private_key: Vec<u8>,
    /// XEdDSA signature of the 33-byte public key by the identity key.
    #[prost(bytes = "vec", tag = "4")]
    pub signature: Vec<u8>,
    /// Creation time, milliseconds since the Unix epoch.
    #[prost(fixed64, optional, tag = "5")]
    pub timestamp: Option<u64>,
}

/// `IdentityKeyPairStructure`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct IdentityKeyPairStructure {
    /// Public key (33 bytes).
    #[prost(bytes = "vec", tag = "1")]
    pub public_key: Vec<u8>,
    /// Private key (32 bytes).
    #[prost(bytes = "vec", tag = "2")]
    pub private_key: Vec<u8>,
}

/// `SenderKeyStateStructure`: one sender-key chain of one group sender.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SenderKeyStateStructure {
    /// Chain id.
    #[prost(uint32, optional, tag = "1")]
    pub sender_key_id: Option<u32>,
    /// The next chain key.
    #[prost(message, optional, tag = "2")]
    pub sender_chain_key: Option<sender_key_state_structure::SenderChainKey>,
    /// The sender's signing key (the private half only for our own chains).
    #[prost(message, optional, tag = "3")]
    pub sender_signing_key: Option<sender_key_state_structure::SenderSigningKey>,
    /// Keys of skipped messages.
    #[prost(message, repeated, tag = "4")]
    pub sender_message_keys: Vec<sender_key_state_structure::SenderMessageKey>,
}

/// The parts of [`SenderKeyStateStructure`].
pub mod sender_key_state_structure {
    /// A sender chain key.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SenderChainKey {
        /// Iteration of the next message.
        #[prost(uint32, optional, tag = "1")]
        pub iteration: Option<u32>,
        /// The chain key (32 bytes).
        #[prost(bytes = "vec", tag = "2")]
        pub seed: Vec<u8>,
    }

    /// The seed of one skipped message's key.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SenderMessageKey {
        /// The message's iteration.
        #[prost(uint32, optional, tag = "1")]
        pub iteration: Option<u32>,
        /// The message-key seed (32 bytes).
        #[prost(bytes = "vec", tag = "2")]
        pub seed: Vec<u8>,
    }

    /// The signing key pair of a sender-key chain.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SenderSigningKey {
        /// Public key (33 bytes).
        #[prost(bytes = "vec", tag = "1")]
        pub public: Vec<u8>,
        /// Private key (32 bytes), absent for other senders' chains.
        #[prost(bytes = "vec", tag = "2")]
        pub private: Vec<u8>,
    }
}

/// `SenderKeyRecordStructure`: the sender-key states of one (group, sender).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SenderKeyRecordStructure {
    /// States, newest first.
    #[prost(message, repeated, tag = "1")]
    pub sender_key_states: Vec<SenderKeyStateStructure>,
}
