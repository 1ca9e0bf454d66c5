//! The prekey job: ask the server how many one-time prekeys it holds for us
//! and, when they run low (or the server says so), generate a batch, store it,
//! and only then upload it.

use bytes::Bytes;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::{IqAnswer, Messenger, Outcome, Step};
use crate::message::iq;
use crate::signal::{PreKeyRecord, PrivateKey, PublicKey, SignedPreKeyRecord};
use crate::store::{Device, WriteBatch, WriteOp};

/// Fewer prekeys than this on the server triggers an upload.
pub const MIN_SERVER_PREKEYS: u32 = 5;
/// Prekeys generated and uploaded at once (WhatsApp Web's number).
pub const PREKEY_BATCH: u32 = 812;

#[derive(Debug)]
enum State {
    Count,
    CountAsked,
    Generate,
    Stored,
    Upload,
    UploadAsked,
    Uploaded(bool),
    Finished,
}

/// See the module docs.
pub struct PreKeyJob {
    state: State,
    ids: std::ops::Range<u32>,
    keys: Vec<PreKeyRecord>,
    device: Device,
    rng: ChaCha20Rng,
}

impl std::fmt::Debug for PreKeyJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreKeyJob")
            .field("state", &self.state)
            .field("ids", &self.ids)
            .finish_non_exhaustive()
    }
}

impl PreKeyJob {
    pub(super) fn new(
        messenger: &mut Messenger,
        device: Device,
        force: bool,
        seed: [u8; 32],
    ) -> Self {
        PreKeyJob {
            state: if force { State::Generate } else { State::Count },
            ids: messenger.take_prekey_ids(PREKEY_BATCH),
            keys: Vec::new(),
            device,
            rng: ChaCha20Rng::from_seed(seed),
        }
    }

    /// The ids this job generates (if it generates any).
    pub fn ids(&self) -> std::ops::Range<u32> {
        self.ids.clone()
    }

    pub(super) fn step(&mut self) -> Step {
        match self.state {
            State::Count => {
                self.state = State::CountAsked;
                Step::Query(iq::prekey_count())
            }
            State::Generate => {
                self.keys = self
                    .ids
                    .clone()
                    .map(|id| PreKeyRecord::generate(id, &mut self.rng))
                    .collect();
                let mut batch = WriteBatch::new();
                batch.push(WriteOp::StorePreKeys {
                    keys: self
                        .keys
                        .iter()
                        .map(|k| (k.id(), Bytes::from(k.serialize())))
                        .collect(),
                    uploaded: false,
                });
                batch.push(WriteOp::AdvancePreKeyCounter { next: self.ids.end });
                self.state = State::Stored;
                // Stored before uploaded: a crash after the upload must not
                // lose the private keys the server hands out.
                Step::Commit(batch)
            }
            State::Upload => {
                self.state = State::UploadAsked;
                let identity = PublicKey::from_raw(self.device.identity_key.public);
                let signed = SignedPreKeyRecord::from_parts(
                    self.device.signed_pre_key_id,
                    PublicKey::from_raw(self.device.signed_pre_key.public),
                    PrivateKey::from_bytes(self.device.signed_pre_key.private),
                    self.device.signed_pre_key_signature,
                    0,
                );
                Step::Query(iq::upload_prekeys(
                    self.device.registration_id,
                    &identity,
                    &self.keys,
                    &signed,
                ))
            }
            State::Uploaded(true) => {
                self.state = State::Finished;
                let mut batch = WriteBatch::new();
                batch.push(WriteOp::MarkPreKeysUploaded {
                    ids: self.keys.iter().map(PreKeyRecord::id).collect(),
                });
                Step::Done(Outcome {
                    batch,
                    ..Outcome::default()
                })
            }
            // Not asked to go on (count high enough, commit not confirmed,
            // upload refused): the stored keys stay marked not uploaded.
            State::CountAsked
            | State::Stored
            | State::UploadAsked
            | State::Uploaded(false)
            | State::Finished => {
                self.state = State::Finished;
                Step::Done(Outcome::default())
            }
        }
    }

    pub(super) fn committed(&mut self) {
        if matches!(self.state, State::Stored) {
            self.state = State::Upload;
        }
    }

    pub(super) fn answer(&mut self, answer: IqAnswer) {
        match self.state {
            State::CountAsked => {
                let count = answer.ok().and_then(|n| iq::parse_prekey_count(&n).ok());
                if count.is_none_or(|c| c < MIN_SERVER_PREKEYS) {
                    self.state = State::Generate;
                }
            }
            State::UploadAsked => {
                let ok = answer.is_ok_and(|n| n.attr_str("type") != Some("error"));
                self.state = State::Uploaded(ok);
            }
            _ => {}
        }
    }
}
