//! The frame codec (docs/protocol.md §1.2–1.4): encoder layout, limits, and a decoder
//! that must give the same frames however the byte stream is split.

use bytes::Bytes;
use proptest::prelude::*;
use wa_core::frame::{
    CONN_HEADER, EDGE_ROUTING_MAGIC, FRAME_MAX_SIZE, FrameDecodeError, FrameDecoder,
    FrameEncodeError, FrameEncoder, LENGTH_PREFIX_LEN, MAX_EDGE_ROUTING_LEN, MAX_PAYLOAD_LEN,
    NOISE_PROLOGUE,
};

// ---------------------------------------------------------------- helpers

/// A frame built by hand (not by the encoder under test): 3-byte BE length + payload.
fn hand_frame(payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    assert!(len <= MAX_PAYLOAD_LEN);
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8];
    out.extend_from_slice(payload);
    out
}

/// A server-style stream (no header) of the given payloads, built by hand.
fn hand_stream(payloads: &[Vec<u8>]) -> Vec<u8> {
    payloads.iter().flat_map(|p| hand_frame(p)).collect()
}

/// Stream offsets at which a frame ends (0 included): where the decoder holds nothing.
fn boundaries(payloads: &[Vec<u8>]) -> Vec<usize> {
    let mut at = vec![0];
    for p in payloads {
        at.push(at.last().unwrap() + LENGTH_PREFIX_LEN + p.len());
    }
    at
}

/// Which decoder entry point a sweep drives.
#[derive(Clone, Copy, Debug)]
enum Entry {
    Slice,
    Bytes,
}

/// Feeds `stream` cut at `cuts` (sorted, in 0..=len) and checks after every chunk
/// that the decoder holds exactly the bytes since the last frame boundary and no
/// more than one frame's worth of capacity. Returns the frames.
fn decode_checked(entry: Entry, payloads: &[Vec<u8>], stream: &[u8], cuts: &[usize]) -> Vec<Bytes> {
    let bounds = boundaries(payloads);
    let largest = payloads.iter().map(Vec::len).max().unwrap_or(0);
    let mut decoder = FrameDecoder::new();
    let mut frames = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&stream.len())) {
        let chunk = &stream[start..end];
        match entry {
            Entry::Slice => decoder.decode(chunk, |f| frames.push(f)),
            Entry::Bytes => decoder.decode_bytes(Bytes::copy_from_slice(chunk), |f| frames.push(f)),
        }
        .expect("valid stream");
        let last_boundary = bounds.iter().copied().filter(|&b| b <= end).max().unwrap();
        assert_eq!(
            decoder.buffered_len(),
            end - last_boundary,
            "after cut at {end}"
        );
        assert!(
            decoder.buffer_capacity() <= largest,
            "capacity above one frame"
        );
        assert_eq!(
            frames.len(),
            bounds.iter().filter(|&&b| b != 0 && b <= end).count(),
            "frames delivered by offset {end}"
        );
        start = end;
    }
    assert_eq!(decoder.buffered_len(), 0);
    assert_eq!(
        decoder.buffer_capacity(),
        0,
        "buffer released at a frame boundary"
    );
    frames
}

fn assert_frames(frames: &[Bytes], payloads: &[Vec<u8>]) {
    let got: Vec<&[u8]> = frames.iter().map(|f| &f[..]).collect();
    let want: Vec<&[u8]> = payloads.iter().map(|p| &p[..]).collect();
    assert_eq!(got, want);
}

/// splitmix64: a tiny seeded generator so the random sweeps are reproducible.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn patterned(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Frames of awkward sizes: empty ones (also back to back), sizes around the
/// prefix width, and lengths whose middle/high prefix bytes are non-zero.
fn mixed_payloads() -> Vec<Vec<u8>> {
    [0, 1, 2, 3, 4, 0, 0, 255, 256, 300, 5, 0]
        .iter()
        .enumerate()
        .map(|(i, &len)| patterned(len, i as u8))
        .collect()
}

// ---------------------------------------------------------------- encoder

#[test]
fn first_client_hello_matches_the_protocol_check_value() {
    // docs/protocol.md §1.4: 43 bytes = 57 41 06 03 | 00 00 24 | 12 22 0A 20 <32-byte e.pub>.
    let ephemeral: Vec<u8> = (0xA0..0xC0).collect();
    assert_eq!(ephemeral.len(), 32);
    // HandshakeMessage{ field 2 (clientHello), len 34 { field 1 (ephemeral), len 32 } }.
    let mut client_hello = vec![0x12, 0x22, 0x0A, 0x20];
    client_hello.extend_from_slice(&ephemeral);

    let mut expected = vec![
        0x57, 0x41, 0x06, 0x03, 0x00, 0x00, 0x24, 0x12, 0x22, 0x0A, 0x20,
    ];
    expected.extend_from_slice(&ephemeral);
    assert_eq!(expected.len(), 43);

    let mut encoder = FrameEncoder::new();
    assert_eq!(encoder.encoded_len(client_hello.len()), 43);
    let mut wire = Vec::new();
    encoder.encode(&client_hello, &mut wire).unwrap();
    assert_eq!(wire, expected);
}

#[test]
fn header_goes_on_the_first_frame_only() {
    let mut encoder = FrameEncoder::new();
    assert!(!encoder.intro_sent());
    let mut wire = Vec::new();
    encoder.encode(b"one", &mut wire).unwrap();
    assert!(encoder.intro_sent());
    assert_eq!(encoder.encoded_len(3), 6);
    encoder.encode(b"", &mut wire).unwrap();
    encoder.encode(b"three", &mut wire).unwrap();

    let mut expected = CONN_HEADER.to_vec();
    expected.extend(hand_frame(b"one"));
    expected.extend(hand_frame(b""));
    expected.extend(hand_frame(b"three"));
    assert_eq!(wire, expected);
    // A second header anywhere would be a second "WA" run.
    assert_eq!(wire.windows(4).filter(|w| *w == CONN_HEADER).count(), 1);
}

#[test]
fn frames_append_to_bytes_mut_and_existing_content_is_kept() {
    let mut encoder = FrameEncoder::new();
    let mut out = bytes::BytesMut::from(&b"xyz"[..]);
    encoder.encode(b"ab", &mut out).unwrap();
    encoder.encode(b"c", &mut out).unwrap();
    assert_eq!(&out[..], b"xyzWA\x06\x03\x00\x00\x02ab\x00\x00\x01c");
}

#[test]
fn edge_routing_pre_intro_layout() {
    let routing: Vec<u8> = patterned(300, 7);
    let mut encoder = FrameEncoder::with_edge_routing(&routing).unwrap();
    let mut wire = Vec::new();
    encoder.encode(b"hello", &mut wire).unwrap();
    encoder.encode(b"again", &mut wire).unwrap();

    // 45 44 00 01 | 00 01 2C | 300 routing bytes | 57 41 06 03 | 00 00 05 hello | 00 00 05 again
    let mut expected = vec![0x45, 0x44, 0x00, 0x01, 0x00, 0x01, 0x2C];
    expected.extend_from_slice(&routing);
    expected.extend_from_slice(&[0x57, 0x41, 0x06, 0x03]);
    expected.extend(hand_frame(b"hello"));
    expected.extend(hand_frame(b"again"));
    assert_eq!(wire, expected);
    assert_eq!(encoder.intro(), &expected[..4 + 3 + 300 + 4]);
    assert_eq!(&encoder.intro()[..4], &EDGE_ROUTING_MAGIC);
    // The Noise prologue is the bare header, whatever the pre-intro (§1.2).
    assert_eq!(NOISE_PROLOGUE, [0x57, 0x41, 0x06, 0x03]);
    assert_eq!(encoder.intro()[encoder.intro().len() - 4..], NOISE_PROLOGUE);
}

#[test]
fn empty_routing_info_gives_a_zero_length_pre_intro() {
    let encoder = FrameEncoder::with_edge_routing(&[]).unwrap();
    assert_eq!(encoder.intro(), b"ED\x00\x01\x00\x00\x00WA\x06\x03");
    assert_eq!(FrameEncoder::new().intro(), &CONN_HEADER);
}

#[test]
fn routing_info_over_24_bits_is_refused() {
    let too_long = vec![0u8; MAX_EDGE_ROUTING_LEN + 1];
    assert_eq!(
        FrameEncoder::with_edge_routing(&too_long).unwrap_err(),
        FrameEncodeError::RoutingInfoTooLarge {
            len: MAX_EDGE_ROUTING_LEN + 1
        }
    );
    let longest = FrameEncoder::with_edge_routing(&too_long[1..]).unwrap();
    assert_eq!(&longest.intro()[4..7], &[0xFF, 0xFF, 0xFF]);
    assert_eq!(longest.intro().len(), 4 + 3 + MAX_EDGE_ROUTING_LEN + 4);
}

#[test]
fn sixteen_mib_payload_is_refused_and_nothing_is_written() {
    let mut encoder = FrameEncoder::new();
    let mut out = b"earlier".to_vec();
    let big = vec![0x5Au8; FRAME_MAX_SIZE];
    assert_eq!(
        encoder.encode(&big, &mut out).unwrap_err(),
        FrameEncodeError::PayloadTooLarge {
            len: FRAME_MAX_SIZE
        }
    );
    assert_eq!(
        encoder.begin_frame(FRAME_MAX_SIZE, &mut out).unwrap_err(),
        FrameEncodeError::PayloadTooLarge {
            len: FRAME_MAX_SIZE
        }
    );
    assert_eq!(out, b"earlier", "a refused frame writes nothing");
    assert!(
        !encoder.intro_sent(),
        "a refused first frame keeps the header due"
    );

    // 16 MiB - 1 fits, and still carries the header because nothing was sent yet.
    let largest = &big[..MAX_PAYLOAD_LEN];
    encoder.encode(largest, &mut out).unwrap();
    assert_eq!(out.len(), 7 + 4 + 3 + MAX_PAYLOAD_LEN);
    assert_eq!(&out[7..14], &[0x57, 0x41, 0x06, 0x03, 0xFF, 0xFF, 0xFF]);

    // And the default decoder accepts it back, split mid-payload.
    let mut decoder = FrameDecoder::new();
    let mut frames = Vec::new();
    let stream = &out[11..];
    decoder.decode(&stream[..1000], |f| frames.push(f)).unwrap();
    assert_eq!(decoder.buffer_capacity(), MAX_PAYLOAD_LEN);
    decoder.decode(&stream[1000..], |f| frames.push(f)).unwrap();
    assert_eq!(frames.len(), 1);
    assert!(frames[0] == largest);
}

#[test]
fn begin_frame_writes_what_encode_writes() {
    let payloads = mixed_payloads();
    let mut by_encode = Vec::new();
    let mut by_begin = Vec::new();
    let mut a = FrameEncoder::with_edge_routing(b"r").unwrap();
    let mut b = FrameEncoder::with_edge_routing(b"r").unwrap();
    for p in &payloads {
        a.encode(p, &mut by_encode).unwrap();
        b.begin_frame(p.len(), &mut by_begin).unwrap();
        by_begin.extend_from_slice(p); // e.g. ciphertext written in place
    }
    assert_eq!(by_encode, by_begin);
    let intro_len = a.intro().len();
    assert_eq!(&by_encode[intro_len..], &hand_stream(&payloads)[..]);
}

#[test]
fn fixed_buffer_too_small_is_an_error_not_a_panic() {
    let mut encoder = FrameEncoder::new();
    let mut storage = [0u8; 10];
    let mut window: &mut [u8] = &mut storage;
    // 4 header + 3 prefix + 4 payload = 11 > 10.
    assert_eq!(
        encoder.encode(b"abcd", &mut window).unwrap_err(),
        FrameEncodeError::BufferTooSmall {
            needed: 11,
            remaining: 10
        }
    );
    assert!(!encoder.intro_sent());
    encoder.encode(b"abc", &mut window).unwrap();
    assert_eq!(window.len(), 0);
    assert_eq!(&storage, b"WA\x06\x03\x00\x00\x03abc");
}

// ---------------------------------------------------------------- decoder: splits

#[test]
fn decodes_the_stream_in_one_chunk() {
    let payloads = mixed_payloads();
    let stream = hand_stream(&payloads);
    for entry in [Entry::Slice, Entry::Bytes] {
        assert_frames(&decode_checked(entry, &payloads, &stream, &[]), &payloads);
    }
}

#[test]
fn decodes_the_stream_split_at_every_single_point() {
    let payloads = mixed_payloads();
    let stream = hand_stream(&payloads);
    for entry in [Entry::Slice, Entry::Bytes] {
        for cut in 0..=stream.len() {
            let frames = decode_checked(entry, &payloads, &stream, &[cut]);
            assert_frames(&frames, &payloads);
        }
    }
}

#[test]
fn decodes_the_stream_one_byte_at_a_time() {
    let payloads = mixed_payloads();
    let stream = hand_stream(&payloads);
    let cuts: Vec<usize> = (1..stream.len()).collect();
    for entry in [Entry::Slice, Entry::Bytes] {
        assert_frames(&decode_checked(entry, &payloads, &stream, &cuts), &payloads);
    }
}

#[test]
fn decodes_the_stream_under_seeded_random_multi_splits() {
    let payloads = mixed_payloads();
    let stream = hand_stream(&payloads);
    let mut rng = SplitMix(0x5EED_F4A3_E000_0001);
    for round in 0..3000 {
        let n_cuts = rng.below(12) + 1;
        let mut cuts: Vec<usize> = (0..n_cuts).map(|_| rng.below(stream.len() + 1)).collect();
        cuts.sort_unstable();
        let entry = if round % 2 == 0 {
            Entry::Slice
        } else {
            Entry::Bytes
        };
        let frames = decode_checked(entry, &payloads, &stream, &cuts);
        assert_frames(&frames, &payloads);
    }
}

#[test]
fn large_frames_with_three_byte_lengths_split_at_random_points() {
    // 0x010203 = 66 051 bytes: every byte of the prefix is non-zero.
    let payloads = vec![
        patterned(0x01_02_03, 1),
        vec![],
        patterned(70_000, 2),
        patterned(9, 3),
    ];
    let stream = hand_stream(&payloads);
    let mut rng = SplitMix(42);
    for _ in 0..40 {
        let mut cuts: Vec<usize> = (0..rng.below(6) + 1)
            .map(|_| rng.below(stream.len() + 1))
            .collect();
        // Always include cuts inside the first prefix and payload.
        cuts.extend([1, 2, 3, 4]);
        cuts.sort_unstable();
        assert_frames(
            &decode_checked(Entry::Bytes, &payloads, &stream, &cuts),
            &payloads,
        );
    }
}

#[test]
fn zero_length_frames_come_out_empty_and_immediately() {
    let mut decoder = FrameDecoder::new();
    let mut frames = Vec::new();
    decoder.decode(&[0; 15], |f| frames.push(f)).unwrap();
    assert_eq!(frames.len(), 5);
    assert!(frames.iter().all(Bytes::is_empty));
    // A prefix split 2 + 1 still yields the empty frame as soon as it is complete.
    decoder.decode(&[0, 0], |f| frames.push(f)).unwrap();
    assert_eq!(frames.len(), 5);
    decoder.decode(&[0], |f| frames.push(f)).unwrap();
    assert_eq!(frames.len(), 6);
    assert_eq!(decoder.buffered_len(), 0);
    assert_eq!(decoder.buffer_capacity(), 0);
}

#[test]
fn frames_inside_a_bytes_chunk_share_its_memory() {
    let payloads = vec![b"abc".to_vec(), b"defgh".to_vec()];
    let chunk = Bytes::from(hand_stream(&payloads));
    let mut decoder = FrameDecoder::new();
    let mut frames = Vec::new();
    decoder
        .decode_bytes(chunk.clone(), |f| frames.push(f))
        .unwrap();
    assert_frames(&frames, &payloads);
    assert_eq!(frames[0].as_ptr(), chunk[3..].as_ptr());
    assert_eq!(frames[1].as_ptr(), chunk[9..].as_ptr());
}

#[test]
fn many_small_frames_never_grow_the_buffer() {
    // 200 000 frames of 0..=40 bytes, fed in one 5 MB chunk and then in 4 KiB chunks:
    // the decoder never holds more than one frame, whatever the caller pushes.
    let mut rng = SplitMix(7);
    let payloads: Vec<Vec<u8>> = (0..200_000)
        .map(|i| patterned(rng.below(41), i as u8))
        .collect();
    let stream = hand_stream(&payloads);

    let mut decoder = FrameDecoder::new();
    let mut count = 0usize;
    let mut bytes = 0usize;
    decoder
        .decode(&stream, |f| {
            count += 1;
            bytes += f.len();
        })
        .unwrap();
    assert_eq!(count, payloads.len());
    assert_eq!(bytes + 3 * count, stream.len());
    assert_eq!(decoder.buffer_capacity(), 0);

    let mut decoder = FrameDecoder::new();
    let mut index = 0usize;
    for chunk in stream.chunks(4096) {
        decoder
            .decode(chunk, |f| {
                assert!(f == payloads[index]);
                index += 1;
            })
            .unwrap();
        assert!(decoder.buffer_capacity() <= 40);
        assert!(decoder.buffered_len() < LENGTH_PREFIX_LEN + 40);
    }
    assert_eq!(index, payloads.len());
}

// ---------------------------------------------------------------- decoder: limits and errors

#[test]
fn length_above_the_limit_is_rejected_before_allocating() {
    let mut decoder = FrameDecoder::with_max_frame_len(100);
    let mut frames = Vec::new();
    // One good frame, then a prefix announcing 101 bytes, then payload bytes.
    let mut input = hand_frame(b"ok");
    input.extend_from_slice(&[0x00, 0x00, 0x65]);
    input.extend_from_slice(&[0xEE; 50]);
    let err = decoder.decode(&input, |f| frames.push(f)).unwrap_err();
    assert_eq!(err, FrameDecodeError::FrameTooLarge { len: 101, max: 100 });
    assert_eq!(
        frames,
        [&b"ok"[..]],
        "frames before the bad prefix are delivered"
    );
    assert_eq!(
        decoder.buffer_capacity(),
        0,
        "nothing allocated for the refused frame"
    );
    assert_eq!(decoder.error(), Some(err));
}

#[test]
fn huge_announced_length_is_rejected_when_its_prefix_arrives_bytewise() {
    let mut decoder = FrameDecoder::with_max_frame_len(1 << 20);
    decoder.decode(&[0xFF], |_| panic!("no frame")).unwrap();
    decoder.decode(&[0xFF], |_| panic!("no frame")).unwrap();
    assert_eq!(decoder.buffer_capacity(), 0);
    let err = decoder.decode(&[0xFF], |_| panic!("no frame")).unwrap_err();
    assert_eq!(
        err,
        FrameDecodeError::FrameTooLarge {
            len: 0xFF_FFFF,
            max: 1 << 20
        }
    );
    assert_eq!(decoder.buffer_capacity(), 0);
}

#[test]
fn frame_exactly_at_the_limit_is_accepted_with_an_exact_allocation() {
    let mut decoder = FrameDecoder::with_max_frame_len(100);
    let stream = hand_frame(&patterned(100, 9));
    let mut frames = Vec::new();
    decoder.decode(&stream[..10], |f| frames.push(f)).unwrap();
    assert_eq!(decoder.buffer_capacity(), 100);
    decoder.decode(&stream[10..], |f| frames.push(f)).unwrap();
    assert_eq!(frames, [&stream[3..]]);
    assert_eq!(decoder.buffer_capacity(), 0);
}

#[test]
fn limit_is_clamped_to_what_three_bytes_can_say() {
    assert_eq!(FrameDecoder::new().max_frame_len(), MAX_PAYLOAD_LEN);
    assert_eq!(
        FrameDecoder::with_max_frame_len(usize::MAX).max_frame_len(),
        MAX_PAYLOAD_LEN
    );
    assert_eq!(FrameDecoder::with_max_frame_len(0).max_frame_len(), 0);
    // A zero limit still passes empty frames.
    let mut decoder = FrameDecoder::with_max_frame_len(0);
    let mut n = 0;
    decoder.decode(&[0, 0, 0, 0, 0, 0], |_| n += 1).unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        decoder.decode(&[0, 0, 1], |_| n += 1).unwrap_err(),
        FrameDecodeError::FrameTooLarge { len: 1, max: 0 }
    );
}

#[test]
fn an_error_poisons_the_decoder() {
    let mut decoder = FrameDecoder::with_max_frame_len(4);
    // Half a good frame, then the rest of it followed by a bad prefix.
    decoder
        .decode(&[0, 0, 2, b'a'], |_| panic!("not complete yet"))
        .unwrap();
    let mut frames = Vec::new();
    let err = decoder
        .decode(&[b'b', 0, 0, 5], |f| frames.push(f))
        .unwrap_err();
    assert_eq!(frames, [&b"ab"[..]]);
    assert_eq!(err, FrameDecodeError::FrameTooLarge { len: 5, max: 4 });

    // Valid input afterwards changes nothing: same error, no frames, nothing held.
    for entry in [Entry::Slice, Entry::Bytes] {
        let valid = hand_frame(b"ok");
        let again = match entry {
            Entry::Slice => decoder.decode(&valid, |_| panic!("poisoned decoder yielded")),
            Entry::Bytes => {
                decoder.decode_bytes(Bytes::from(valid), |_| panic!("poisoned decoder yielded"))
            }
        };
        assert_eq!(again.unwrap_err(), err);
    }
    assert_eq!(decoder.decode(&[], |_| ()).unwrap_err(), err);
    assert_eq!(decoder.error(), Some(err));
    assert_eq!(decoder.buffer_capacity(), 0);
}

#[test]
fn every_truncation_and_byte_mutation_is_handled() {
    // docs/reliability.md malformed-input sweep: no panic, and bytes are conserved:
    // frames + prefixes + held tail = input, or a typed error.
    let payloads = mixed_payloads();
    let stream = hand_stream(&payloads);
    let check = |input: &[u8]| {
        let mut decoder = FrameDecoder::with_max_frame_len(300);
        let mut consumed = 0usize;
        match decoder.decode(input, |f| consumed += LENGTH_PREFIX_LEN + f.len()) {
            Ok(()) => assert_eq!(consumed + decoder.buffered_len(), input.len()),
            Err(FrameDecodeError::FrameTooLarge { len, max }) => {
                assert_eq!(max, 300);
                assert!(len > 300);
                assert!(consumed + LENGTH_PREFIX_LEN <= input.len());
            }
        }
        assert!(decoder.buffer_capacity() <= 300);
    };
    for end in 0..=stream.len() {
        check(&stream[..end]);
    }
    for i in 0..stream.len() {
        for value in [0x00, 0x01, 0x7F, 0x80, 0xFF, stream[i] ^ 0x01] {
            let mut mutated = stream.clone();
            mutated[i] = value;
            check(&mutated);
        }
    }
}

// ---------------------------------------------------------------- properties

fn payloads_strategy() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::collection::vec(any::<u8>(), 0..8),
            2 => prop::collection::vec(any::<u8>(), 0..600),
        ],
        0..24,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn encode_then_decode_round_trips(
        payloads in payloads_strategy(),
        routing in prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
        cut_seeds in prop::collection::vec(any::<prop::sample::Index>(), 0..16),
    ) {
        let mut encoder = match &routing {
            Some(r) => FrameEncoder::with_edge_routing(r).unwrap(),
            None => FrameEncoder::new(),
        };
        let mut wire = Vec::new();
        for p in &payloads {
            encoder.encode(p, &mut wire).unwrap();
        }
        if payloads.is_empty() {
            prop_assert!(wire.is_empty());
            return Ok(());
        }
        let intro_len = encoder.intro().len();
        prop_assert_eq!(&wire[..intro_len], encoder.intro());
        let stream = &wire[intro_len..];
        prop_assert_eq!(stream, &hand_stream(&payloads)[..]);

        let mut cuts: Vec<usize> = cut_seeds.iter().map(|i| i.index(stream.len() + 1)).collect();
        cuts.sort_unstable();
        let frames = decode_checked(Entry::Bytes, &payloads, stream, &cuts);
        assert_frames(&frames, &payloads);
    }

    #[test]
    fn any_chunking_gives_the_same_frames(
        payloads in payloads_strategy(),
        cut_seeds in prop::collection::vec(any::<prop::sample::Index>(), 0..32),
    ) {
        let stream = hand_stream(&payloads);
        let mut cuts: Vec<usize> = cut_seeds.iter().map(|i| i.index(stream.len() + 1)).collect();
        cuts.sort_unstable();
        assert_frames(&decode_checked(Entry::Slice, &payloads, &stream, &cuts), &payloads);
    }

    #[test]
    fn arbitrary_bytes_are_conserved_or_rejected(
        input in prop::collection::vec(any::<u8>(), 0..2048),
        limit in 0usize..512,
        cut_seeds in prop::collection::vec(any::<prop::sample::Index>(), 0..16),
    ) {
        // Chunked decoding of garbage agrees with one-shot decoding of it.
        let mut one_shot = FrameDecoder::with_max_frame_len(limit);
        let mut expected = Vec::new();
        let expected_result = one_shot.decode(&input, |f| expected.push(f));

        let mut cuts: Vec<usize> = cut_seeds.iter().map(|i| i.index(input.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.push(input.len());
        let mut chunked = FrameDecoder::with_max_frame_len(limit);
        let mut frames = Vec::new();
        let mut result = Ok(());
        let mut start = 0;
        for end in cuts {
            result = chunked.decode(&input[start..end], |f| frames.push(f));
            prop_assert!(chunked.buffer_capacity() <= limit);
            if result.is_err() {
                break;
            }
            start = end;
        }
        prop_assert_eq!(&result, &expected_result);
        prop_assert_eq!(&frames, &expected);
        if result.is_ok() {
            let framed: usize = frames.iter().map(|f| LENGTH_PREFIX_LEN + f.len()).sum();
            prop_assert_eq!(framed + chunked.buffered_len(), input.len());
        }
    }
}
