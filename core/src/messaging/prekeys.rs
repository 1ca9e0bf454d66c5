//! The prekey job: ask the server how many one-time prekeys it holds for us
//! and, when they run low (or the server says so), generate a batch, store it,
//! and only then upload it. After a login it also rotates the signed prekey
//! when it is due (stored before uploaded; the previous ones are kept for the
//! messages still on their way) and checks the server's digest of our keys
//! (a server that has no record of us gets a full upload).

use bytes::Bytes;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::{IqAnswer, Messenger, Need, Outcome, Records, Step};
use crate::message::iq;
use crate::signal::{IdentityKeyPair, PreKeyRecord, PrivateKey, PublicKey, SignedPreKeyRecord};
use crate::store::{Device, SignedPreKeyUpdate, WriteBatch, WriteOp};

/// Fewer prekeys than this on the server triggers an upload.
pub const MIN_SERVER_PREKEYS: u32 = 5;
/// Prekeys generated and uploaded at once (WhatsApp Web's number).
pub const PREKEY_BATCH: u32 = 812;
/// How often the signed prekey is replaced (27 days, WhatsApp Web's interval).
pub const SIGNED_PREKEY_ROTATION_MS: i64 = 27 * 24 * 60 * 60 * 1000;

#[derive(Debug)]
enum State {
    Count,
    CountAsked,
    Generate,
    Stored,
    Upload,
    UploadAsked,
    Uploaded(bool),
    /// The uploaded marks were committed.
    Marked,
    /// After a login: is the signed prekey due?
    RotateCheck,
    /// The new signed prekey (and the kept old one) are being committed.
    RotateStored,
    /// Committed: upload it.
    RotateUpload,
    RotateAsked,
    /// The rotation time was committed.
    Rotated,
    /// After a login: ask for the digest.
    Digest,
    DigestAsked,
    /// The listed prekeys were asked for.
    DigestLoaded,
    Finished,
}

/// See the module docs.
pub struct PreKeyJob {
    state: State,
    ids: std::ops::Range<u32>,
    keys: Vec<PreKeyRecord>,
    device: Device,
    rng: ChaCha20Rng,
    /// After a login: the time (unix ms) for the rotation and digest checks.
    login_ms: Option<i64>,
    /// The rotated-in signed prekey, until its upload is answered.
    rotated: Option<SignedPreKeyRecord>,
    /// The server's digest, while the listed prekeys are loaded.
    digest: Option<iq::PreKeyDigest>,
    /// What the digest check found (for tests and logs).
    digest_result: Option<DigestCheck>,
    /// A step decided by the last answer.
    pending_step: Option<Step>,
    /// A new signed prekey was committed: the outcome repeats the update so
    /// that `Messenger::observe` sees it.
    signed_changed: bool,
}

/// What the digest check after a login found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestCheck {
    /// The server holds exactly our keys.
    Match,
    /// The server's hash, registration id or prekey list differs from ours
    /// (logged; the next rotation refreshes the keys, as WhatsApp Web does).
    Mismatch,
    /// The server has no record of our keys (error 404): everything was
    /// uploaded again.
    Missing,
    /// No usable answer.
    Failed,
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
            login_ms: None,
            rotated: None,
            digest: None,
            digest_result: None,
            pending_step: None,
            signed_changed: false,
        }
    }

    /// Also runs the checks that follow a login (rotation, digest) at
    /// `now_ms` (unix ms).
    pub(super) fn after_login(mut self, now_ms: i64) -> Self {
        self.login_ms = Some(now_ms);
        self
    }

    /// What the digest check found, once it ran.
    pub fn digest_check(&self) -> Option<DigestCheck> {
        self.digest_result
    }

    fn signed(&self) -> SignedPreKeyRecord {
        SignedPreKeyRecord::from_parts(
            self.device.signed_pre_key_id,
            PublicKey::from_raw(self.device.signed_pre_key.public),
            PrivateKey::from_bytes(self.device.signed_pre_key.private),
            self.device.signed_pre_key_signature,
            0,
        )
    }

    /// Where to go once the one-time prekeys are settled.
    fn after_prekeys(&self) -> State {
        if self.login_ms.is_some() {
            State::RotateCheck
        } else {
            State::Finished
        }
    }

    /// The rotation step: commits a new signed prekey when one is due.
    fn rotate_check(&mut self) -> Step {
        let Some(now) = self.login_ms else {
            self.state = State::Finished;
            return Step::Done(Outcome::default());
        };
        let last = self.device.last_signed_pre_key_rotation_ms;
        if last == 0 {
            // The first check only starts the clock.
            self.device.last_signed_pre_key_rotation_ms = now;
            self.state = State::Rotated;
            let mut batch = WriteBatch::new();
            batch.push(WriteOp::SetSignedPreKey(Box::new(SignedPreKeyUpdate::of(
                &self.device,
            ))));
            return Step::Commit(batch);
        }
        if now.saturating_sub(last) < SIGNED_PREKEY_ROTATION_MS {
            self.state = State::Digest;
            return self.step();
        }
        let old = self.signed();
        let next_id = if old.id() >= super::MAX_PREKEY_ID {
            1
        } else {
            old.id() + 1
        };
        let identity = IdentityKeyPair::from_parts(
            PublicKey::from_raw(self.device.identity_key.public),
            PrivateKey::from_bytes(self.device.identity_key.private),
        );
        let new = SignedPreKeyRecord::generate(
            next_id,
            &identity,
            u64::try_from(now).unwrap_or(0),
            &mut self.rng,
        );
        self.device.signed_pre_key_id = new.id();
        self.device.signed_pre_key.public = *new.public_key().raw();
        self.device.signed_pre_key.private = *new.private_key().bytes();
        self.device.signed_pre_key_signature = *new.signature();
        let mut batch = WriteBatch::new();
        // The old key stays readable for the messages made with it.
        batch.push(WriteOp::StoreSignedPreKey {
            id: old.id(),
            record: Bytes::from(old.serialize()),
        });
        batch.push(WriteOp::SetSignedPreKey(Box::new(SignedPreKeyUpdate::of(
            &self.device,
        ))));
        self.rotated = Some(new);
        self.signed_changed = true;
        self.state = State::RotateStored;
        Step::Commit(batch)
    }

    /// Compares the server's digest with our keys (the listed prekeys loaded).
    fn check_digest(&mut self, records: &Records) {
        let Some(digest) = self.digest.take() else {
            return;
        };
        let mut keys = Vec::with_capacity(digest.prekey_ids.len());
        for id in &digest.prekey_ids {
            match records
                .prekeys
                .get(id)
                .and_then(Option::as_ref)
                .and_then(|b| PreKeyRecord::deserialize(b).ok())
            {
                Some(record) => keys.push(*record.public_key().raw()),
                None => {
                    self.digest_result = Some(DigestCheck::Mismatch);
                    return;
                }
            }
        }
        let ours = iq::prekey_digest_hash(&self.device.identity_key.public, &self.signed(), &keys);
        self.digest_result = Some(
            if digest.registration_id == self.device.registration_id && ours == digest.hash {
                DigestCheck::Match
            } else {
                DigestCheck::Mismatch
            },
        );
    }

    /// The ids this job generates (if it generates any).
    pub fn ids(&self) -> std::ops::Range<u32> {
        self.ids.clone()
    }

    pub(super) fn step(&mut self) -> Step {
        if let Some(step) = self.pending_step.take() {
            return step;
        }
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
                let signed = self.signed();
                Step::Query(iq::upload_prekeys(
                    self.device.registration_id,
                    &identity,
                    &self.keys,
                    &signed,
                ))
            }
            State::Uploaded(true) => {
                self.state = State::Marked;
                let mut batch = WriteBatch::new();
                batch.push(WriteOp::MarkPreKeysUploaded {
                    ids: self.keys.iter().map(PreKeyRecord::id).collect(),
                });
                Step::Commit(batch)
            }
            // The server holds enough (or the upload was refused: the stored
            // keys stay marked not uploaded).
            State::CountAsked | State::Uploaded(false) => {
                self.state = self.after_prekeys();
                self.step()
            }
            State::RotateCheck => self.rotate_check(),
            State::RotateUpload => match &self.rotated {
                Some(new) => {
                    self.state = State::RotateAsked;
                    Step::Query(iq::rotate_signed_prekey(new))
                }
                None => {
                    self.state = State::Digest;
                    self.step()
                }
            },
            State::RotateAsked => {
                self.state = State::Digest;
                self.step()
            }
            State::Digest => {
                self.state = State::DigestAsked;
                Step::Query(iq::prekey_digest())
            }
            // Not asked to go on (a commit not confirmed), or done.
            State::Marked
            | State::Stored
            | State::UploadAsked
            | State::RotateStored
            | State::Rotated
            | State::DigestAsked
            | State::DigestLoaded
            | State::Finished => {
                self.state = State::Finished;
                let mut batch = WriteBatch::new();
                if std::mem::take(&mut self.signed_changed) {
                    batch.push(WriteOp::SetSignedPreKey(Box::new(SignedPreKeyUpdate::of(
                        &self.device,
                    ))));
                }
                Step::Done(Outcome {
                    batch,
                    ..Outcome::default()
                })
            }
        }
    }

    pub(super) fn committed(&mut self) {
        match self.state {
            State::Stored => self.state = State::Upload,
            State::Marked => self.state = self.after_prekeys(),
            State::RotateStored => self.state = State::RotateUpload,
            State::Rotated => self.state = State::Digest,
            _ => {}
        }
    }

    /// The records asked for by the digest check.
    pub(super) fn provide(&mut self, records: Records) {
        if matches!(self.state, State::DigestLoaded) {
            self.check_digest(&records);
            self.state = State::Finished;
        }
    }

    /// The rotation upload was answered: on success the rotation time is
    /// committed; on failure the new key stays ours (the server keeps handing
    /// out the old one, which we keep too) and the next login tries again.
    fn on_rotate_answer(&mut self, ok: bool) {
        self.rotated = None;
        match (ok, self.login_ms) {
            (true, Some(now)) => {
                self.device.last_signed_pre_key_rotation_ms = now;
                self.state = State::Rotated;
                let mut batch = WriteBatch::new();
                batch.push(WriteOp::SetSignedPreKey(Box::new(SignedPreKeyUpdate::of(
                    &self.device,
                ))));
                self.pending_step = Some(Step::Commit(batch));
            }
            _ => self.state = State::Digest,
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
            State::RotateAsked => {
                let ok = answer.is_ok_and(|n| n.attr_str("type") != Some("error"));
                self.on_rotate_answer(ok);
            }
            State::DigestAsked => match answer {
                Ok(node) if iq::error_code(&node) == Some(404) => {
                    // The server has no record of our keys: upload them all
                    // (once per job: the ids were taken for one batch).
                    self.digest_result = Some(DigestCheck::Missing);
                    self.login_ms = None;
                    self.state = if self.keys.is_empty() {
                        State::Generate
                    } else {
                        State::Finished
                    };
                }
                Ok(node) => match iq::parse_prekey_digest(&node) {
                    Ok(digest) => {
                        self.pending_step = Some(Step::Load(Need {
                            prekeys: digest.prekey_ids.clone(),
                            ..Need::default()
                        }));
                        self.digest = Some(digest);
                        self.state = State::DigestLoaded;
                    }
                    Err(_) => {
                        self.digest_result = Some(DigestCheck::Failed);
                        self.state = State::Finished;
                    }
                },
                Err(_) => {
                    self.digest_result = Some(DigestCheck::Failed);
                    self.state = State::Finished;
                }
            },
            _ => {}
        }
    }
}
