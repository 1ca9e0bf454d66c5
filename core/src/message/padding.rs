//! The random padding after a message's protobuf: `n` bytes of value `n`.

use rand_core::CryptoRng;

use super::StanzaError;

/// Appends 1 to 15 bytes of padding, each equal to its count.
pub fn pad<R: CryptoRng + ?Sized>(mut plaintext: Vec<u8>, rng: &mut R) -> Vec<u8> {
    let mut b = [0u8; 1];
    rng.fill_bytes(&mut b);
    let n = (b[0] & 0x0F).max(1);
    plaintext.resize(plaintext.len() + usize::from(n), n);
    plaintext
}

/// Strips the padding; a last byte of 0 or larger than the text is an error.
/// (Padding bytes other than the last are not checked: senders differ.)
pub fn unpad(plaintext: &[u8]) -> Result<&[u8], StanzaError> {
    let n = usize::from(
        *plaintext
            .last()
            .ok_or(StanzaError::Invalid("empty plaintext"))?,
    );
    if n == 0 || n > plaintext.len() {
        return Err(StanzaError::Invalid("padding"));
    }
    Ok(&plaintext[..plaintext.len() - n])
}
