//! Runs the Signal fuzz bodies on their seeds (so CI exercises what the fuzz
//! targets check) and on a few thousand seeded random inputs. With
//! `WA_WRITE_FUZZ_SEEDS=<fuzz dir>` it also writes the seed corpora.

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng as _, SeedableRng};
use wa_core::testing::signal_fuzz;

fn write_seeds(target: &str, seeds: &[Vec<u8>]) {
    if let Ok(dir) = std::env::var("WA_WRITE_FUZZ_SEEDS") {
        let dir = std::path::Path::new(&dir).join("corpus").join(target);
        std::fs::create_dir_all(&dir).expect("corpus dir");
        for (i, seed) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), seed).expect("write seed");
        }
    }
}

#[test]
fn signal_decrypt_seeds_and_mutations() {
    let seeds = signal_fuzz::decrypt_seeds();
    write_seeds("signal_decrypt", &seeds);
    let mut rng = ChaCha20Rng::seed_from_u64(99);
    for seed in &seeds {
        signal_fuzz::decrypt_one(seed);
        for _ in 0..200 {
            let mut m = seed.clone();
            let i = (rng.next_u32() as usize) % m.len();
            m[i] ^= 1 << (rng.next_u32() % 8);
            if rng.next_u32() % 4 == 0 {
                m.truncate((rng.next_u32() as usize) % m.len());
            }
            signal_fuzz::decrypt_one(&m);
        }
    }
}

#[test]
fn signal_session_ops_seeds_and_random_sequences() {
    let seeds = signal_fuzz::session_ops_seeds();
    write_seeds("signal_session_ops", &seeds);
    let mut total = signal_fuzz::OpsStats::default();
    let mut add = |s: signal_fuzz::OpsStats| {
        total.delivered += s.delivered;
        total.duplicates += s.duplicates;
        total.group_delivered += s.group_delivered;
    };
    for seed in &seeds {
        add(signal_fuzz::session_ops(seed));
    }
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    for len in [16usize, 64, 128, 256, 512] {
        for _ in 0..20 {
            let mut data = vec![0u8; len];
            rng.fill_bytes(&mut data);
            add(signal_fuzz::session_ops(&data));
        }
    }
    // The sequences really exercise the properties.
    assert!(total.delivered > 500, "{total:?}");
    assert!(total.duplicates > 100, "{total:?}");
    assert!(total.group_delivered > 100, "{total:?}");
}

#[test]
fn inbound_stanza_seeds_and_mutations() {
    use wa_core::testing::messaging_fuzz;
    let seeds = messaging_fuzz::inbound_seeds();
    write_seeds("inbound_stanzas", &seeds);
    assert!(seeds.len() >= 6, "{}", seeds.len());
    let answered: usize = seeds.iter().map(|s| messaging_fuzz::inbound(s)).sum();
    assert!(answered >= 4, "the message seeds are answered: {answered}");
    // A group retry receipt for Bob's group message is among them: it is
    // answered with one resend.
    let retry = seeds
        .iter()
        .find(|s| {
            wa_core::binary::decode_frame(&bytes::Bytes::copy_from_slice(s))
                .is_ok_and(|n| n.tag == "receipt" && n.attr_jid("from").is_ok_and(|f| f.is_group()))
        })
        .expect("a group retry seed");
    assert_eq!(messaging_fuzz::inbound(retry), 1);
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    for seed in &seeds {
        for _ in 0..100 {
            let mut m = seed.clone();
            let i = (rng.next_u32() as usize) % m.len();
            m[i] ^= 1 << (rng.next_u32() % 8);
            messaging_fuzz::inbound(&m);
        }
    }
}
