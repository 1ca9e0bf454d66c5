//! The transport phase: AES-256-GCM with independent write and read counters
//! (docs/protocol.md §2.5).

use std::fmt;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit};
use bytes::BytesMut;

use super::{NoiseError, TAG_LEN, nonce};

/// The number of nonces each direction can use: counters `0 ..= u32::MAX`.
#[cfg(feature = "testing")]
const NONCES_PER_DIRECTION: u64 = 1 << 32;

/// A growable byte buffer the transport cipher can encrypt and decrypt in place.
///
/// Implemented for `Vec<u8>` and [`BytesMut`]. Encryption appends the 16-byte tag,
/// so reserve [`TAG_LEN`] bytes of spare capacity to avoid a reallocation.
pub trait CipherBuffer {
    /// The buffer's contents.
    fn as_mut_bytes(&mut self) -> &mut [u8];
    /// Appends `data`.
    fn extend_from_slice(&mut self, data: &[u8]);
    /// Shortens the buffer to `len` bytes.
    fn truncate(&mut self, len: usize);
}

impl CipherBuffer for Vec<u8> {
    fn as_mut_bytes(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
    fn extend_from_slice(&mut self, data: &[u8]) {
        Vec::extend_from_slice(self, data);
    }
    fn truncate(&mut self, len: usize) {
        Vec::truncate(self, len);
    }
}

impl CipherBuffer for BytesMut {
    fn as_mut_bytes(&mut self) -> &mut [u8] {
        self.as_mut()
    }
    fn extend_from_slice(&mut self, data: &[u8]) {
        BytesMut::extend_from_slice(self, data);
    }
    fn truncate(&mut self, len: usize) {
        BytesMut::truncate(self, len);
    }
}

/// The transport cipher that results from a completed handshake
/// (`Split`, docs/protocol.md §2.5).
///
/// - One AES-256-GCM key per direction, its key schedule computed once here.
/// - Nonce = 8 zero bytes ‖ u32 big-endian counter; AAD is empty; the 16-byte tag
///   follows the ciphertext.
/// - The write and read counters start at 0 and are independent. A counter
///   advances only when its operation succeeds. After nonce `u32::MAX` has been
///   used, that direction fails with [`NoiseError::CounterExhausted`]: a nonce is
///   never reused (the caller must reconnect).
/// - Every encryption that succeeded consumed a nonce; its ciphertext must reach
///   the peer, or the peer's read counter falls out of step.
/// - A failed decryption is fatal for the connection: the read counter does not
///   advance, so later frames cannot be read either.
///
/// `Debug` shows the counters, never the keys. The type is deliberately not
/// `Clone`: two copies would encrypt different frames under the same nonce.
///
/// The in-place methods allocate nothing beyond what the buffer needs for the
/// tag; the frame codec uses [`encrypt_in_place_from`](Self::encrypt_in_place_from)
/// to encrypt a payload right behind its length prefix.
pub struct NoiseTransport {
    write: Aes256Gcm,
    read: Aes256Gcm,
    write_counter: u64,
    read_counter: u64,
}

impl NoiseTransport {
    /// A transport that encrypts with `write_key` and decrypts with `read_key`,
    /// both counters at 0.
    pub(crate) fn new(write_key: &[u8; 32], read_key: &[u8; 32]) -> Self {
        Self {
            write: Aes256Gcm::new(&(*write_key).into()),
            read: Aes256Gcm::new(&(*read_key).into()),
            write_counter: 0,
            read_counter: 0,
        }
    }

    /// Claims the next write nonce, or fails if the write direction is exhausted.
    fn write_nonce(&self) -> Result<u32, NoiseError> {
        u32::try_from(self.write_counter).map_err(|_| NoiseError::CounterExhausted)
    }

    fn read_nonce(&self) -> Result<u32, NoiseError> {
        u32::try_from(self.read_counter).map_err(|_| NoiseError::CounterExhausted)
    }

    /// Encrypts `buf` in place and returns the tag, which the caller appends.
    /// Uses (and consumes) the next write nonce.
    pub fn encrypt_detached(&mut self, buf: &mut [u8]) -> Result<[u8; TAG_LEN], NoiseError> {
        let n = self.write_nonce()?;
        let tag = self
            .write
            .encrypt_inout_detached(&nonce(n), &[], buf.into())
            .map_err(|_| NoiseError::MessageTooLong)?;
        self.write_counter += 1;
        Ok(tag.into())
    }

    /// Encrypts the whole buffer in place and appends the tag.
    pub fn encrypt_in_place<B: CipherBuffer + ?Sized>(
        &mut self,
        buf: &mut B,
    ) -> Result<(), NoiseError> {
        self.encrypt_in_place_from(buf, 0)
    }

    /// Encrypts `buf[start..]` in place and appends the tag, leaving `buf[..start]`
    /// (for example a frame's length prefix) untouched.
    ///
    /// # Panics
    ///
    /// If `start` is greater than the buffer's length (a caller bug).
    pub fn encrypt_in_place_from<B: CipherBuffer + ?Sized>(
        &mut self,
        buf: &mut B,
        start: usize,
    ) -> Result<(), NoiseError> {
        let tag = self.encrypt_detached(&mut buf.as_mut_bytes()[start..])?;
        buf.extend_from_slice(&tag);
        Ok(())
    }

    /// Encrypts `plaintext` into a new `ciphertext ‖ tag` vector.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let mut buf = Vec::with_capacity(plaintext.len() + TAG_LEN);
        buf.extend_from_slice(plaintext);
        self.encrypt_in_place(&mut buf)?;
        Ok(buf)
    }

    /// Decrypts `ciphertext ‖ tag` in place and returns the plaintext, a prefix of
    /// `buf`. Uses the next read nonce, which advances only on success.
    pub fn decrypt_in_place_slice<'a>(
        &mut self,
        buf: &'a mut [u8],
    ) -> Result<&'a mut [u8], NoiseError> {
        let n = self.read_nonce()?;
        let body_len = buf
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(NoiseError::CiphertextTooShort { len: buf.len() })?;
        let (body, tag_bytes) = buf.split_at_mut(body_len);
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(tag_bytes);
        self.read
            .decrypt_inout_detached(&nonce(n), &[], (&mut *body).into(), &tag.into())
            .map_err(|_| NoiseError::Decrypt)?;
        self.read_counter += 1;
        Ok(body)
    }

    /// Decrypts the whole buffer (`ciphertext ‖ tag`) in place and truncates it to
    /// the plaintext.
    pub fn decrypt_in_place<B: CipherBuffer + ?Sized>(
        &mut self,
        buf: &mut B,
    ) -> Result<(), NoiseError> {
        let len = self.decrypt_in_place_slice(buf.as_mut_bytes())?.len();
        buf.truncate(len);
        Ok(())
    }

    /// Decrypts `ciphertext ‖ tag` into a new vector.
    pub fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let mut buf = ciphertext.to_vec();
        self.decrypt_in_place(&mut buf)?;
        Ok(buf)
    }

    /// The counter the next encryption will use; `2³²` means the write direction
    /// is exhausted.
    pub fn write_counter(&self) -> u64 {
        self.write_counter
    }

    /// The counter the next decryption will use; `2³²` means the read direction
    /// is exhausted.
    pub fn read_counter(&self) -> u64 {
        self.read_counter
    }

    /// Test hook: moves both counters, for example next to the end of the nonce
    /// space. Values above `2³²` are clamped to `2³²` (exhausted). Never useful
    /// outside tests: a peer would no longer understand this side.
    #[cfg(feature = "testing")]
    pub fn set_counters_for_testing(&mut self, write_counter: u64, read_counter: u64) {
        self.write_counter = write_counter.min(NONCES_PER_DIRECTION);
        self.read_counter = read_counter.min(NONCES_PER_DIRECTION);
    }
}

impl fmt::Debug for NoiseTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoiseTransport")
            .field("write_counter", &self.write_counter)
            .field("read_counter", &self.read_counter)
            .field("keys", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::aead::Aead;

    #[test]
    fn nonce_is_eight_zero_bytes_and_a_big_endian_counter_and_aad_is_empty() {
        let key = [0x5A; 32];
        let mut t = NoiseTransport::new(&key, &key);
        t.set_counters_for_testing(0x0102_0304, 0x0102_0304);
        let sealed = t.encrypt(b"frame").unwrap();

        let raw = Aes256Gcm::new(&key.into());
        let iv = [0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x02, 0x03, 0x04];
        assert_eq!(sealed, raw.encrypt(&iv.into(), &b"frame"[..]).unwrap());
        assert_eq!(t.decrypt(&sealed).unwrap(), b"frame");
        assert_eq!(t.write_counter(), 0x0102_0305);
    }
}
