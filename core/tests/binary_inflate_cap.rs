//! The 16 MiB inflate cap (docs/protocol.md §4.1): a zlib bomb is refused without the heap
//! ever holding more than the cap, and a frame right at the cap still inflates.
//!
//! The heap is measured with dhat's testing mode, which needs to be the global
//! allocator and allows one profiler at a time, so this file holds a single test.

use std::io::Write;

use bytes::Bytes;
use wa_core::binary::{DecodeError, MAX_INFLATED_LEN, unpack};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// A frame (flags 0x02) whose zlib stream inflates to `len` zero bytes, built in
/// chunks so building it does not hold `len` bytes either.
fn zeros_frame(len: usize) -> Bytes {
    let mut z = flate2::write::ZlibEncoder::new(vec![0x02], flate2::Compression::best());
    let chunk = vec![0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len());
        z.write_all(&chunk[..n]).unwrap();
        left -= n;
    }
    Bytes::from(z.finish().unwrap())
}

/// Runs `f` under a fresh dhat profiler and returns its result and the peak heap
/// bytes while it ran.
fn peak_heap<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let profiler = dhat::Profiler::builder().testing().build();
    let out = f();
    let peak = dhat::HeapStats::get().max_bytes as u64;
    drop(profiler);
    (out, peak)
}

#[test]
fn inflate_is_capped_at_16_mib() {
    assert_eq!(MAX_INFLATED_LEN, 16 * 1024 * 1024);
    // Room for the decompressor's own state and small bookkeeping.
    let slack = 512 * 1024;

    // A bomb: ~17 KB that would inflate to 64 MiB.
    let bomb = zeros_frame(64 * 1024 * 1024);
    assert!(bomb.len() < 100 * 1024, "bomb is {} bytes", bomb.len());
    let (result, peak) = peak_heap(|| unpack(&bomb));
    assert_eq!(
        result,
        Err(DecodeError::InflatedTooLarge {
            limit: MAX_INFLATED_LEN
        })
    );
    assert!(
        peak <= (MAX_INFLATED_LEN + 1 + slack) as u64,
        "peak heap {peak} bytes while refusing the bomb"
    );

    // One byte over the cap is refused too.
    let over = zeros_frame(MAX_INFLATED_LEN + 1);
    let (result, peak) = peak_heap(|| unpack(&over));
    assert!(matches!(result, Err(DecodeError::InflatedTooLarge { .. })));
    assert!(peak <= (MAX_INFLATED_LEN + 1 + slack) as u64, "peak {peak}");

    // Exactly at the cap: accepted, within the same bound.
    let at_cap = zeros_frame(MAX_INFLATED_LEN);
    let (result, peak) = peak_heap(|| unpack(&at_cap).map(|b| b.len()));
    assert_eq!(result, Ok(MAX_INFLATED_LEN));
    assert!(peak <= (MAX_INFLATED_LEN + 1 + slack) as u64, "peak {peak}");

    // A small frame does not reserve anything near the cap.
    let small = zeros_frame(1000);
    let (result, peak) = peak_heap(|| unpack(&small).map(|b| b.len()));
    assert_eq!(result, Ok(1000));
    assert!(peak < 64 * 1024, "peak {peak} for a 1000-byte frame");

    // Truncated and trailing-garbage streams are errors, not partial output.
    let short = Bytes::copy_from_slice(&small[..small.len() - 3]);
    assert_eq!(unpack(&short), Err(DecodeError::TruncatedCompressed));
    let mut long = small.to_vec();
    long.extend([1, 2]);
    assert_eq!(
        unpack(&Bytes::from(long)),
        Err(DecodeError::TrailingCompressed { count: 2 })
    );
}
