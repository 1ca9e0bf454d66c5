//! The `wa-store` command-line tool, run as a process on real files.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::SystemTime;

use wa_core::store::{DeviceStore, SignalStore};
use wa_store_redb::{ReadOnlyStore, RedbOptions, RedbStore};

fn wa_store(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wa-store"))
        .args(args)
        .output()
        .expect("run wa-store")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A file's bytes and modification time, to show a command left it alone.
#[derive(Debug, PartialEq)]
struct Fingerprint {
    bytes: Vec<u8>,
    modified: SystemTime,
}

impl Fingerprint {
    fn of(path: &Path) -> Self {
        Self {
            bytes: std::fs::read(path).unwrap(),
            modified: std::fs::metadata(path).unwrap().modified().unwrap(),
        }
    }

    fn assert_unchanged(&self, path: &Path, what: &str) {
        let now = Self::of(path);
        assert_eq!(now.modified, self.modified, "{what} touched the file");
        assert!(now.bytes == self.bytes, "{what} changed the file's bytes");
    }
}

const IN_USE: &str = "the file is in use by another process (a running client?)";

fn shared() -> RedbOptions {
    RedbOptions::builder().shared_readers(true).build()
}

/// The fields of the line of `stats` output for `table`, after its name.
fn stats_row(stdout: &str, table: &str) -> String {
    stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(table))
        .unwrap_or_else(|| panic!("no {table} line in {stdout}"))
        .split_whitespace()
        .skip(1)
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn stats_counts_rows_per_table_and_device() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::v1_fixture_copy(dir.path());
    let size = std::fs::metadata(&path).unwrap().len();
    let before = Fingerprint::of(&path);
    let out = wa_store(&["stats", s(&path)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains(&format!("size: {size} bytes")), "{stdout}");
    // Read-only: the schema-v1 file is shown as it is, not upgraded (its
    // inbox tables do not exist yet and count as empty), and not written.
    assert!(
        stdout.contains(&format!(
            "schema version: 1 (a client upgrades it to {} when it opens the file)",
            wa_store_redb::SCHEMA_VERSION
        )),
        "{stdout}"
    );
    before.assert_unchanged(&path, "stats");
    let row = |table: &str| stats_row(&stdout, table);
    // The fixture: 2 sessions of device 1 and 1 of device 2, 3 prekeys, ...
    assert_eq!(row("sessions_v1"), "3 1:2 2:1");
    assert_eq!(row("identities_v1"), "2 1:1 2:1");
    assert_eq!(row("prekeys_v1"), "3 1:3");
    assert_eq!(row("mutation_macs_v1"), "2 1:2");
    assert_eq!(row("lid_pn_index_v1"), "2 1:2");
    assert_eq!(row("devices_v1"), "1 1:1");
    assert_eq!(row("inbox_v1"), "0");
    assert_eq!(row("inbox_index_v1"), "0");
    assert_eq!(row("total"), "26");
}

#[test]
fn check_passes_a_healthy_file_and_flags_a_corrupt_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::v1_fixture_copy(dir.path());
    let out = wa_store(&["check", s(&path)]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("26 records checked, 0 corrupt"));

    // Garbage as device 1's session with 5511987650001.0.
    {
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        let mut key = vec![0x80, 0, 0, 1];
        key.extend_from_slice(b"5511987650001.0");
        txn.open_table(redb::TableDefinition::<&[u8], &[u8]>::new("sessions_v1"))
            .unwrap()
            .insert(key.as_slice(), &[1u8, 200][..])
            .unwrap();
        txn.commit().unwrap();
    }
    let out = wa_store(&["check", s(&path)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("corrupt: table sessions_v1 key device 1, address \"5511987650001.0\""),
        "{stdout}"
    );
    assert!(stdout.contains("26 records checked, 1 corrupt"), "{stdout}");
}

#[test]
fn check_flags_a_damaged_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::v1_fixture_copy(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    // Damage every page after the header: whatever the layout, live pages
    // are hit and their checksums fail.
    for page in (4096..bytes.len()).step_by(4096) {
        bytes[page + 100] ^= 0x55;
    }
    std::fs::write(&path, &bytes).unwrap();
    let out = wa_store(&["check", s(&path)]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).starts_with("corrupt: "),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn export_redacts_secrets_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::v1_fixture_copy(dir.path());
    let out = wa_store(&["export", s(&path)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let redacted = text(&out.stdout);
    let lines: Vec<serde_json::Value> = redacted
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 27, "meta + 26 records");
    assert_eq!(lines[0]["table"], "meta");
    // Read as it is, not upgraded (see the stats test).
    assert_eq!(lines[0]["schema_version"], 1);
    // Secret bytes (hex of the fixture's values) never appear...
    let secrets = [
        hex::encode(b"session-one"),
        hex::encode(b"prekey-1"),
        hex::encode(b"signed-prekey-1"),
        hex::encode(b"sender-key"),
        hex::encode([0x01; 32]), // noise private key
        hex::encode([0x08; 32]), // ADV secret
        hex::encode([0x21; 32]), // sync key data
        hex::encode(b"tc-token"),
        hex::encode(b"sent-payload"),
    ];
    for secret in &secrets {
        assert!(!redacted.contains(secret.as_str()), "{secret} leaked");
    }
    assert!(redacted.contains("\"redacted\":true"));
    // ...public parts do.
    let device = lines.iter().find(|l| l["table"] == "devices_v1").unwrap();
    assert_eq!(
        device["value"]["noise_key"]["public"],
        hex::encode([0x02; 32])
    );
    assert_eq!(device["value"]["noise_key"]["private"]["redacted"], true);
    assert_eq!(device["value"]["push_name"], "Zoë 🙂");
    let session = lines
        .iter()
        .find(|l| l["table"] == "sessions_v1" && l["key"]["address"] == "5511987650001.0")
        .unwrap();
    assert_eq!(session["key"]["device"], 1);
    assert_eq!(session["value"]["bytes"]["len"], 11);

    let out = wa_store(&["export", s(&path), "--include-secrets"]);
    assert!(out.status.success());
    let full = text(&out.stdout);
    for secret in &secrets {
        assert!(
            full.contains(secret.as_str()),
            "{secret} missing with --include-secrets"
        );
    }
    assert!(!full.contains("\"redacted\""));
}

#[test]
fn compact_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.redb");
    smol::block_on(async {
        let store = RedbStore::open(&path).unwrap();
        store
            .save(&wa_core::store::Device::from_keys(
                wa_core::store::DeviceKeys {
                    noise_key: wa_core::store::KeyPair {
                        private: [1; 32],
                        public: [2; 32],
                    },
                    identity_key: wa_core::store::KeyPair {
                        private: [3; 32],
                        public: [4; 32],
                    },
                    registration_id: 1,
                    signed_pre_key: wa_core::store::KeyPair {
                        private: [5; 32],
                        public: [6; 32],
                    },
                    signed_pre_key_id: 1,
                    signed_pre_key_signature: [7; 64],
                    adv_secret_key: [8; 32],
                },
            ))
            .await
            .unwrap();
        for i in 0..400 {
            store
                .put_session(&format!("s{i}"), &[7u8; 4000])
                .await
                .unwrap();
        }
        for i in 0..390 {
            store.delete_session(&format!("s{i}")).await.unwrap();
        }
    });
    let before = std::fs::metadata(&path).unwrap().len();
    let out = wa_store(&["compact", s(&path)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let after = std::fs::metadata(&path).unwrap().len();
    assert!(after < before, "{before} -> {after}");
    assert!(text(&out.stdout).contains(&format!("{before} -> {after} bytes")));
    let store = RedbStore::open(&path).unwrap();
    smol::block_on(async {
        assert!(store.exists().await.unwrap());
        for i in 390..400 {
            assert_eq!(
                store
                    .get_session(&format!("s{i}"))
                    .await
                    .unwrap()
                    .as_deref(),
                Some(&[7u8; 4000][..])
            );
        }
    });
}

#[test]
fn usage_and_file_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &[][..],
        &["frobnicate", "x.redb"][..],
        &["stats"][..],
        &["stats", "a", "b"][..],
        &["check", "--include-secrets", "x"][..],
    ] {
        let out = wa_store(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out.stderr).contains("usage:"), "{args:?}");
    }
    let missing = dir.path().join("missing.redb");
    let out = wa_store(&["stats", s(&missing)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!missing.exists(), "the tool must not create files");
    assert!(wa_store(&["--help"]).status.success());

    // A file from a newer release: refused with a message saying so.
    let path = common::v1_fixture_copy(dir.path());
    {
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(redb::TableDefinition::<&[u8], &[u8]>::new("meta"))
            .unwrap()
            .insert(&b"schema_version"[..], &9u32.to_le_bytes()[..])
            .unwrap();
        txn.commit().unwrap();
    }
    let out = wa_store(&["stats", s(&path)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("newer release"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn stats_check_and_export_read_beside_a_running_client_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::v1_fixture_copy(dir.path());
    // The client holds the file for the whole test (opening it upgrades the
    // fixture to the current schema version; that is the client's write).
    let client = RedbStore::open_with(&path, shared()).unwrap();
    let before = Fingerprint::of(&path);

    let out = wa_store(&["stats", s(&path)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "schema version: {}\n",
            wa_store_redb::SCHEMA_VERSION
        )),
        "{stdout}"
    );
    assert_eq!(stats_row(&stdout, "sessions_v1"), "3 1:2 2:1");
    assert_eq!(stats_row(&stdout, "inbox_v1"), "0");
    assert_eq!(stats_row(&stdout, "total"), "26");
    before.assert_unchanged(&path, "stats");

    let out = wa_store(&["check", s(&path)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "26 records checked, 0 corrupt\n");
    before.assert_unchanged(&path, "check");

    let out = wa_store(&["export", s(&path)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 27, "meta + 26 records");
    assert_eq!(lines[0]["schema_version"], wa_store_redb::SCHEMA_VERSION);
    assert!(
        !text(&out.stdout).contains(&hex::encode(b"session-one")),
        "secrets stay redacted"
    );
    before.assert_unchanged(&path, "export");

    // The client still writes, and the tool sees its latest commit.
    smol::block_on(client.put_session("5511987650009.0", b"new session")).unwrap();
    let out = wa_store(&["stats", s(&path)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(stats_row(&text(&out.stdout), "sessions_v1"), "4 1:3 2:1");
    assert_eq!(
        smol::block_on(client.get_session("5511987650009.0"))
            .unwrap()
            .as_deref(),
        Some(&b"new session"[..])
    );
}

#[test]
fn beside_a_client_without_shared_readers_the_tool_says_the_file_is_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::v1_fixture_copy(dir.path());
    let client = RedbStore::open(&path).unwrap();
    let before = Fingerprint::of(&path);
    for args in [&["stats"][..], &["check"][..], &["export"][..]] {
        let mut args = args.to_vec();
        args.push(s(&path));
        let out = wa_store(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
        let stderr = text(&out.stderr);
        assert!(stderr.contains(IN_USE), "{args:?}: {stderr}");
        assert!(stderr.contains("shared_readers"), "{args:?}: {stderr}");
        before.assert_unchanged(&path, args[0]);
    }
    // The client is undisturbed.
    smol::block_on(client.put_session("5511987650009.0", b"x")).unwrap();
}

#[test]
fn compact_refuses_while_the_file_is_open_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::v1_fixture_copy(dir.path());
    for options in [RedbOptions::default(), shared()] {
        let client = RedbStore::open_with(&path, options.clone()).unwrap();
        let before = Fingerprint::of(&path);
        let out = wa_store(&["compact", s(&path)]);
        assert_eq!(out.status.code(), Some(2), "{options:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(IN_USE), "{options:?}: {stderr}");
        assert!(stderr.contains("compact writes"), "{options:?}: {stderr}");
        before.assert_unchanged(&path, "compact (refused)");
        smol::block_on(client.put_session("5511987650009.0", b"x")).unwrap();
    }
    // A reader holds the file too: compact waits for nobody, it refuses.
    let reader = ReadOnlyStore::open(&path).unwrap();
    let before = Fingerprint::of(&path);
    let out = wa_store(&["compact", s(&path)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains(IN_USE), "{}", text(&out.stderr));
    before.assert_unchanged(&path, "compact (refused)");
    drop(reader);
    // Closed everywhere: it runs.
    let out = wa_store(&["compact", s(&path)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn a_file_left_by_a_crash_is_not_recovered_by_inspection() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.redb");
    let crashed = dir.path().join("crashed.redb");
    {
        let client = RedbStore::open(&live).unwrap();
        smol::block_on(client.put_session("5511987650001.0", b"kept")).unwrap();
        // What `kill -9` would leave: the file as it is while the client
        // holds it (its last commit durable, no clean-shutdown mark).
        std::fs::write(&crashed, std::fs::read(&live).unwrap()).unwrap();
    }
    let before = Fingerprint::of(&crashed);
    for cmd in ["stats", "check", "export"] {
        let out = wa_store(&[cmd, s(&crashed)]);
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains("not closed cleanly"), "{cmd}: {stderr}");
        before.assert_unchanged(&crashed, cmd);
    }
    // `compact` writes, so it recovers the file; then inspection reads it.
    let out = wa_store(&["compact", s(&crashed)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = wa_store(&["stats", s(&crashed)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(stats_row(&text(&out.stdout), "sessions_v1"), "1 1:1");
}
