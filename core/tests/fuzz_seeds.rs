//! The fuzz bodies that live in the core (`wa_core::testing::fuzz`), run over
//! the tracked seeds of the fuzz crate's corpus (`fuzz/corpus/<target>/seed-*`),
//! so every change to the core runs them once.

use std::fs;
use std::path::Path;

use wa_core::testing::fuzz;

/// The seeds of `target`, by name.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut seeds: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seed-"))
        })
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&path).expect("a readable seed"))
        })
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

fn run_seeds(target: &str, run: fn(&[u8])) {
    for (name, data) in seeds(target) {
        // Shown only when a seed fails.
        println!("{target}/{name}");
        run(&data);
    }
}

#[test]
fn connection_ops_seeds() {
    run_seeds("connection_ops", fuzz::connection_ops::run);
}

#[test]
fn frame_decode_seeds() {
    run_seeds("frame_decode", fuzz::frame_decode::run);
}

#[test]
fn handshake_server_msgs_seeds() {
    run_seeds("handshake_server_msgs", fuzz::handshake_server_msgs::run);
}

#[test]
fn pair_success_msgs_seeds() {
    run_seeds("pair_success_msgs", fuzz::pair_success_msgs::run);
}
