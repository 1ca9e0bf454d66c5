//! Frame decoding of hostile bytes, split at fuzzer-chosen points.
//!
//! Input layout (missing bytes read as zero):
//! - bytes 0..2: decoder limit, u16 big-endian; `0xFFFF` means the default
//!   (`MAX_PAYLOAD_LEN`), anything else is the limit itself;
//! - byte 2: number of split points `k` (taken mod 32);
//! - the next `2k` bytes: split offsets, u16 big-endian each (taken mod len+1);
//! - the rest: the byte stream as the server would send it.
//!
//! Checked on every input:
//! - no panic, and the payload buffer never exceeds the limit;
//! - bytes are conserved: frames + 3 bytes each + the held tail == bytes fed;
//! - the frames re-encode to exactly the bytes they were decoded from;
//! - the split decoding (zero-copy `decode_bytes`) gives the same frames and the
//!   same result as one-shot decoding (`decode`) of the whole stream;
//! - an error is a too-large length, and it poisons the decoder.

use crate::frame::{
    FrameDecodeError, FrameDecoder, FrameEncoder, LENGTH_PREFIX_LEN, MAX_PAYLOAD_LEN,
};
use bytes::Bytes;

/// Runs one fuzz input (any bytes).
pub fn run(data: &[u8]) {
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    let limit = match u16::from_be_bytes([byte(0), byte(1)]) {
        0xFFFF => MAX_PAYLOAD_LEN,
        n => usize::from(n),
    };
    let cut_count = usize::from(byte(2) % 32);
    let stream_start = (3 + 2 * cut_count).min(data.len());
    let stream = &data[stream_start..];
    let mut cuts: Vec<usize> = (0..cut_count)
        .map(|i| {
            usize::from(u16::from_be_bytes([byte(3 + 2 * i), byte(4 + 2 * i)])) % (stream.len() + 1)
        })
        .collect();
    cuts.sort_unstable();
    cuts.push(stream.len());

    // Reference: the whole stream at once, through the copying entry point.
    let mut one_shot = FrameDecoder::with_max_frame_len(limit);
    let mut expected = Vec::new();
    let expected_result = one_shot.decode(stream, |f| expected.push(f));

    // Under test: the same stream in pieces, through the zero-copy entry point.
    let mut decoder = FrameDecoder::with_max_frame_len(limit);
    let mut frames = Vec::new();
    let mut result = Ok(());
    let mut fed = 0usize;
    for &end in &cuts {
        let chunk = Bytes::copy_from_slice(&stream[fed..end]);
        result = decoder.decode_bytes(chunk, |f| frames.push(f));
        assert!(decoder.buffer_capacity() <= limit, "buffer above the limit");
        if result.is_err() {
            break;
        }
        fed = end;
        let framed: usize = frames.iter().map(|f| LENGTH_PREFIX_LEN + f.len()).sum();
        assert_eq!(framed + decoder.buffered_len(), fed, "bytes not conserved");
    }

    assert_eq!(result, expected_result, "split and one-shot results differ");
    assert_eq!(frames, expected, "split and one-shot frames differ");

    // The frames are exactly the bytes they came from.
    let mut encoder = FrameEncoder::new();
    let mut reencoded = Vec::new();
    for f in &frames {
        encoder
            .encode(f, &mut reencoded)
            .expect("a decoded frame re-encodes");
    }
    let reencoded = reencoded.get(encoder.intro().len()..).unwrap_or(&[]);
    assert_eq!(
        reencoded,
        &stream[..reencoded.len()],
        "frames differ from their bytes"
    );

    match result {
        Ok(()) => {
            assert_eq!(reencoded.len() + decoder.buffered_len(), stream.len());
            assert_eq!(decoder.error(), None);
        }
        Err(error) => {
            let FrameDecodeError::FrameTooLarge { len, max } = error;
            assert_eq!(max, limit);
            assert!(len > limit && len <= MAX_PAYLOAD_LEN);
            // The bad prefix sits right after the last good frame.
            let at = reencoded.len();
            let prefix = &stream[at..at + LENGTH_PREFIX_LEN];
            assert_eq!(
                len,
                usize::from(prefix[0]) << 16 | usize::from(prefix[1]) << 8 | usize::from(prefix[2])
            );
            assert_eq!(decoder.error(), Some(error));
            assert_eq!(
                decoder.decode(&[0, 0, 0], |_| panic!("poisoned decoder yielded")),
                Err(error)
            );
            assert_eq!(decoder.buffer_capacity(), 0);
        }
    }
}
