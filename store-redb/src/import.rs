//! `wa-store import-whatsapp-rust`: moves a store written by
//! `whatsapp-rust-sqlite-storage` (0.7) into a new redb file.
//!
//! The SQLite file is opened read-only and read inside one read transaction
//! (a consistent snapshot), every row is converted and checked, and only then
//! is the redb file opened and everything written in **one** write
//! transaction, which first checks that the file holds no record at all.
//! A row that cannot be converted is left out and named in
//! [`ImportReport::skipped`]; tables this crate has no place for are named in
//! [`ImportReport::not_imported`] with their row counts.
//!
//! Formats (checked against the crate's diesel migrations and `wire.rs`):
//! sessions, prekeys, signed prekeys and sender keys are libsignal protobuf
//! records in both stores and are copied byte for byte after
//! `wa_core::signal` parsed them; Signal addresses and sender-key names use
//! the same scheme (`user[:device]@c.us.0`, `group@g.us:address`). Key pairs
//! are `private ‖ public` (64 bytes) in both. App-state keys, versions and
//! the server certificate chain are small protobuf messages there and are
//! decoded here.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::Path;

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};
use wa_core::binary::Jid;
use wa_core::signal::{PreKeyRecord, SenderKeyRecord, SessionRecord, SignedPreKeyRecord};
use wa_core::store::{
    AppStateMutationMAC, AppStateSyncKey, AppVersion, CachedNoiseCert, CachedServerCertChain,
    Device, DeviceInfo, DeviceKeys, DeviceListRecord, HashState, KeyPair, LidPnMappingEntry,
    StoreError, StoreResult, TcTokenEntry, WriteOp,
};

use crate::RedbStore;
use crate::store::DeviceImport;

/// The migrations of `whatsapp-rust-sqlite-storage` 0.7.0 this importer knows.
const KNOWN_MIGRATIONS: &[&str] = &[
    "20250814035031",
    "202509230322320000",
    "20251204000000",
    "20251211000000",
    "20251224000000",
    "20260205000000",
    "20260212000000",
    "20260312000000",
    "20260315000000",
    "20260323000000",
    "20260326000000",
    "20260331000000",
    "20260406171140",
    "20260426000000",
    "20260513000000",
    "20260528000000",
    "20260531000000",
    "20260601000000",
    "20260610000000",
    "20260626000000",
    "20260702000000",
    "20260703000000",
    "20260703000001",
];

/// Tables whose rows are imported.
const IMPORTED_TABLES: &[&str] = &[
    "device",
    "identities",
    "sessions",
    "prekeys",
    "signed_prekeys",
    "sender_keys",
    "app_state_keys",
    "app_state_versions",
    "app_state_mutation_macs",
    "lid_pn_mapping",
    "device_registry",
    "sender_key_devices",
    "sent_messages",
    "tc_tokens",
];

/// Tables of the source schema with no counterpart here, and why.
const NOT_IMPORTED_TABLES: &[(&str, &str)] = &[
    (
        "base_keys",
        "retry collision detection state; short-lived, rebuilt as retries happen",
    ),
    (
        "msg_secrets",
        "message secrets (reactions/edits/bot replies to old messages); no such store here",
    ),
    (
        "group_metadata",
        "opaque whatsapp-rust GroupInfo snapshots; refetched from the server",
    ),
    (
        "pending_inbound_messages",
        "whatsapp-rust's inbound-durability buffer; not the same contract as this crate's inbox",
    ),
];

/// Bookkeeping tables that hold no account data.
const INTERNAL_TABLES: &[&str] = &["__diesel_schema_migrations", "sqlite_sequence"];

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportReport {
    /// The device (account) ids imported, as in the source file; the same ids
    /// address them here ([`RedbStore::for_device`]).
    pub devices: Vec<i32>,
    /// Rows imported per record family.
    pub imported: BTreeMap<&'static str, u64>,
    /// Each row or field left out, with the reason.
    pub skipped: Vec<String>,
    /// Tables not imported: (table, rows, reason).
    pub not_imported: Vec<(String, u64, String)>,
}

impl ImportReport {
    fn count(&mut self, family: &'static str) {
        *self.imported.entry(family).or_default() += 1;
    }

    fn skip(&mut self, what: impl Into<String>) {
        self.skipped.push(what.into());
    }
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<String> = self.devices.iter().map(|d| d.to_string()).collect();
        writeln!(f, "devices: {}", ids.join(" "))?;
        writeln!(f, "{:<26} {:>8}", "imported", "rows")?;
        for (family, n) in &self.imported {
            writeln!(f, "{family:<26} {n:>8}")?;
        }
        for (table, rows, why) in &self.not_imported {
            writeln!(f, "not imported: table {table} ({rows} rows): {why}")?;
        }
        for s in &self.skipped {
            writeln!(f, "skipped: {s}")?;
        }
        write!(
            f,
            "{} skipped, {} tables not imported",
            self.skipped.len(),
            self.not_imported.len()
        )
    }
}

/// Imports the whatsapp-rust SQLite store at `sqlite` into a new redb store
/// at `redb`, in one atomic write.
///
/// `redb` must not exist or be a store without records; otherwise nothing is
/// written and the error says so. A file that is not such a SQLite store, or
/// whose device record cannot be read, is an error; rows that cannot be
/// converted are listed in the report instead. On error a redb file this call
/// created is removed again.
pub fn import_whatsapp_rust(
    sqlite: impl AsRef<Path>,
    redb: impl AsRef<Path>,
) -> StoreResult<ImportReport> {
    let (sqlite, redb) = (sqlite.as_ref(), redb.as_ref());
    let (devices, report) = read_sqlite(sqlite)?;
    let created = !redb.exists();
    let result = RedbStore::open(redb).and_then(|store| store.import_blocking(&devices));
    if let Err(e) = result {
        if created {
            let _ = std::fs::remove_file(redb);
        }
        return Err(e);
    }
    Ok(report)
}

fn bad_source(path: &Path, e: impl fmt::Display) -> StoreError {
    StoreError::InvalidInput(format!(
        "{}: not a readable whatsapp-rust SQLite store: {e}",
        path.display()
    ))
}

/// One table, every column as an owned SQLite value.
struct Table {
    columns: HashMap<String, usize>,
    rows: Vec<Vec<Value>>,
}

struct Row<'a> {
    table: &'a str,
    columns: &'a HashMap<String, usize>,
    values: &'a [Value],
}

/// What a value is, for messages (never its content, which may be a secret).
fn kind(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Integer(_) => "an integer".into(),
        Value::Real(_) => "a real".into(),
        Value::Text(t) => format!("text of {} bytes", t.len()),
        Value::Blob(b) => format!("a blob of {} bytes", b.len()),
    }
}

impl Row<'_> {
    fn value(&self, col: &str) -> Option<&Value> {
        self.columns.get(col).and_then(|&i| self.values.get(i))
    }

    fn missing(&self, col: &str) -> String {
        format!("{}: no column {col}", self.table)
    }

    fn int(&self, col: &str) -> Result<i64, String> {
        match self.value(col) {
            Some(Value::Integer(i)) => Ok(*i),
            Some(other) => Err(format!(
                "{}.{col}: not an integer ({})",
                self.table,
                kind(other)
            )),
            None => Err(self.missing(col)),
        }
    }

    fn int_or(&self, col: &str, default: i64) -> Result<i64, String> {
        match self.value(col) {
            None | Some(Value::Null) => Ok(default),
            Some(_) => self.int(col),
        }
    }

    fn opt_int(&self, col: &str) -> Result<Option<i64>, String> {
        match self.value(col) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.int(col).map(Some),
        }
    }

    fn int32(&self, col: &str) -> Result<i32, String> {
        let v = self.int(col)?;
        i32::try_from(v).map_err(|_| format!("{}.{col}: {v} is out of range", self.table))
    }

    /// An id the source stored as `u32 as i32`.
    fn u32_as_i32(&self, col: &str) -> Result<u32, String> {
        Ok(self.int32(col)? as u32)
    }

    fn u32_as_i32_or(&self, col: &str, default: u32) -> Result<u32, String> {
        match self.value(col) {
            None | Some(Value::Null) => Ok(default),
            Some(_) => self.u32_as_i32(col),
        }
    }

    fn boolean(&self, col: &str) -> Result<bool, String> {
        Ok(self.int_or(col, 0)? != 0)
    }

    fn text(&self, col: &str) -> Result<String, String> {
        match self.value(col) {
            Some(Value::Text(t)) => Ok(t.clone()),
            Some(other) => Err(format!("{}.{col}: not text ({})", self.table, kind(other))),
            None => Err(self.missing(col)),
        }
    }

    fn opt_text(&self, col: &str) -> Result<Option<String>, String> {
        match self.value(col) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.text(col).map(Some),
        }
    }

    fn blob(&self, col: &str) -> Result<Vec<u8>, String> {
        match self.value(col) {
            Some(Value::Blob(b)) => Ok(b.clone()),
            Some(Value::Text(t)) => Ok(t.as_bytes().to_vec()),
            Some(other) => Err(format!(
                "{}.{col}: not a blob ({})",
                self.table,
                kind(other)
            )),
            None => Err(self.missing(col)),
        }
    }

    fn opt_blob(&self, col: &str) -> Result<Option<Vec<u8>>, String> {
        match self.value(col) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.blob(col).map(Some),
        }
    }

    fn fixed<const N: usize>(&self, col: &str) -> Result<[u8; N], String> {
        let b = self.blob(col)?;
        let len = b.len();
        b.try_into()
            .map_err(|_| format!("{}.{col}: {len} bytes, expected {N}", self.table))
    }

    /// The account a row belongs to (1 when the column is absent, as the
    /// source's migrations default it).
    fn device_id(&self) -> Result<i32, String> {
        match self.value("device_id") {
            None => Ok(1),
            Some(_) => self.int32("device_id"),
        }
    }
}

impl Table {
    fn read(conn: &Connection, name: &str) -> rusqlite::Result<Table> {
        // `name` comes from sqlite_master; quote it as an identifier.
        let sql = format!("SELECT * FROM \"{}\"", name.replace('"', "\"\""));
        let mut stmt = conn.prepare(&sql)?;
        let columns: HashMap<String, usize> = stmt
            .column_names()
            .into_iter()
            .enumerate()
            .map(|(i, c)| (c.to_string(), i))
            .collect();
        let n = columns.len();
        let mut rows = Vec::new();
        let mut q = stmt.query([])?;
        while let Some(r) = q.next()? {
            let mut values = Vec::with_capacity(n);
            for i in 0..n {
                values.push(r.get::<_, Value>(i)?);
            }
            rows.push(values);
        }
        Ok(Table { columns, rows })
    }

    fn rows<'a>(&'a self, table: &'a str) -> impl Iterator<Item = Row<'a>> {
        self.rows.iter().map(move |values| Row {
            table,
            columns: &self.columns,
            values,
        })
    }
}

/// Reads and converts everything; nothing is written.
fn read_sqlite(path: &Path) -> StoreResult<(Vec<DeviceImport>, ImportReport)> {
    if !path.is_file() {
        return Err(StoreError::InvalidInput(format!(
            "{} is not a file",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| bad_source(path, e))?;
    // One read transaction: a consistent snapshot even if a client writes.
    let txn = conn
        .unchecked_transaction()
        .map_err(|e| bad_source(path, e))?;
    let names: Vec<String> = (|| {
        let mut stmt = txn.prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?;
        stmt.query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()
    })()
    .map_err(|e| bad_source(path, e))?;
    if !names.iter().any(|n| n == "device") {
        return Err(bad_source(path, "it has no `device` table"));
    }
    let mut tables = BTreeMap::new();
    for name in &names {
        let t = Table::read(&txn, name).map_err(|e| bad_source(path, format!("{name}: {e}")))?;
        tables.insert(name.clone(), t);
    }
    drop(txn);

    let mut report = ImportReport::default();
    if let Some(m) = tables.get("__diesel_schema_migrations") {
        for row in m.rows("__diesel_schema_migrations") {
            if let Ok(v) = row.text("version")
                && !KNOWN_MIGRATIONS.contains(&v.as_str())
            {
                report.skip(format!(
                    "schema migration {v} is newer than this importer knows \
                     (whatsapp-rust-sqlite-storage 0.7.0); columns it added are not imported"
                ));
            }
        }
    }
    for (name, t) in &tables {
        let name = name.as_str();
        if IMPORTED_TABLES.contains(&name) || INTERNAL_TABLES.contains(&name) {
            continue;
        }
        let why = NOT_IMPORTED_TABLES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, why)| (*why).to_string())
            .unwrap_or_else(|| "unknown table".to_string());
        report
            .not_imported
            .push((name.to_string(), t.rows.len() as u64, why));
    }

    let mut imports: BTreeMap<i32, DeviceImport> = BTreeMap::new();
    let empty = Table {
        columns: HashMap::new(),
        rows: Vec::new(),
    };
    let table = |name: &str| tables.get(name).unwrap_or(&empty);

    // Prekey ids per device, for next_pre_key_id.
    let mut max_prekey: HashMap<i32, u32> = HashMap::new();
    for row in table("prekeys").rows("prekeys") {
        if let (Ok(d), Ok(id)) = (row.device_id(), row.u32_as_i32("id")) {
            let m = max_prekey.entry(d).or_default();
            *m = (*m).max(id);
        }
    }

    for row in table("device").rows("device") {
        let id = row.int32("id").map_err(|e| bad_source(path, e))?;
        let device = device(&row, max_prekey.get(&id).copied(), &mut report)
            .map_err(|e| bad_source(path, format!("device {id}: {e}")))?;
        let mut imp = DeviceImport {
            device_id: id,
            ..DeviceImport::default()
        };
        imp.batch.push(WriteOp::SaveDevice(Box::new(device)));
        imports.insert(id, imp);
        report.devices.push(id);
        report.count("device");
    }

    // Every other table: rows of a device with no device record are skipped.
    macro_rules! each_row {
        ($table:literal, |$row:ident, $imp:ident| $body:block) => {
            for $row in table($table).rows($table) {
                let result: Result<(), String> = (|| {
                    let device = $row.device_id()?;
                    let $imp = imports.get_mut(&device).ok_or_else(|| {
                        format!("belongs to device {device}, which has no device record")
                    })?;
                    $body
                })();
                if let Err(e) = result {
                    report.skip(format!("{} row {}: {e}", $table, describe(&$row)));
                }
            }
        };
    }

    let mut counts: Vec<&'static str> = Vec::new();

    each_row!("identities", |row, imp| {
        let address = row.text("address")?;
        let key = row.blob("key")?;
        let key: [u8; 32] = match key.len() {
            32 => key.try_into().map_err(|_| "identity key length")?,
            33 if key[0] == 0x05 => key[1..].try_into().map_err(|_| "identity key length")?,
            n => return Err(format!("identity key of {n} bytes")),
        };
        imp.batch.push(WriteOp::PutIdentity { address, key });
        counts.push("identities");
        Ok(())
    });

    each_row!("sessions", |row, imp| {
        let address = row.text("address")?;
        let record = session_without_lease(&row.blob("record")?)?;
        SessionRecord::deserialize(&record).map_err(|e| format!("session record: {e}"))?;
        imp.batch.push(WriteOp::PutSession {
            address,
            record: record.into(),
        });
        counts.push("sessions");
        Ok(())
    });

    each_row!("prekeys", |row, imp| {
        let id = row.u32_as_i32("id")?;
        let record = row.blob("key")?;
        let uploaded = row.boolean("uploaded")?;
        PreKeyRecord::deserialize(&record).map_err(|e| format!("prekey record: {e}"))?;
        imp.batch.push(WriteOp::StorePreKeys {
            keys: vec![(id, record.into())],
            uploaded,
        });
        counts.push("prekeys");
        Ok(())
    });

    each_row!("signed_prekeys", |row, imp| {
        let id = row.u32_as_i32("id")?;
        let record = row.blob("record")?;
        SignedPreKeyRecord::deserialize(&record)
            .map_err(|e| format!("signed prekey record: {e}"))?;
        imp.batch.push(WriteOp::StoreSignedPreKey {
            id,
            record: record.into(),
        });
        counts.push("signed_prekeys");
        Ok(())
    });

    each_row!("sender_keys", |row, imp| {
        let name = row.text("address")?;
        let record = sender_key_without_lease(&row.blob("record")?)?;
        SenderKeyRecord::deserialize(&record).map_err(|e| format!("sender key record: {e}"))?;
        imp.batch.push(WriteOp::PutSenderKey {
            name,
            record: record.into(),
        });
        counts.push("sender_keys");
        Ok(())
    });

    each_row!("app_state_keys", |row, imp| {
        let key_id = row.blob("key_id")?;
        let key = sync_key(&row.blob("key_data")?)?;
        // The source answers "latest" with the greatest key id that decodes.
        if imp.latest_sync_key.as_ref().is_none_or(|l| *l < key_id) {
            imp.latest_sync_key = Some(key_id.clone());
        }
        imp.sync_keys.push((key_id, key));
        counts.push("app_state_sync_keys");
        Ok(())
    });

    let mut version_notes = Vec::new();
    each_row!("app_state_versions", |row, imp| {
        let name = row.text("name")?;
        let (state, map_entries, fatal) = hash_state(&row.blob("state_data")?)?;
        if map_entries > 0 {
            version_notes.push(format!(
                "app_state_versions {name:?}: {map_entries} entries of index_value_map \
                 not imported (this store keeps MACs in app_state_mutation_macs only)"
            ));
        }
        if fatal {
            version_notes.push(format!(
                "app_state_versions {name:?}: mac_mismatch_fatal flag not imported \
                 (no such flag here)"
            ));
        }
        imp.versions.push((name, state));
        counts.push("app_state_versions");
        Ok(())
    });

    each_row!("app_state_mutation_macs", |row, imp| {
        let name = row.text("name")?;
        let version = row.int("version")?;
        let version = u64::try_from(version).map_err(|_| format!("negative version {version}"))?;
        imp.macs.push((
            name,
            version,
            AppStateMutationMAC {
                index_mac: row.blob("index_mac")?,
                value_mac: row.blob("value_mac")?,
            },
        ));
        counts.push("app_state_mutation_macs");
        Ok(())
    });

    each_row!("lid_pn_mapping", |row, imp| {
        imp.batch.push(WriteOp::PutLidMapping(LidPnMappingEntry {
            lid: row.text("lid")?,
            phone_number: row.text("phone_number")?,
            created_at: row.int("created_at")?,
            updated_at: row.int("updated_at")?,
            learning_source: row.text("learning_source")?,
        }));
        counts.push("lid_mappings");
        Ok(())
    });

    each_row!("device_registry", |row, imp| {
        let json = row.text("devices_json")?;
        let devices: Vec<DeviceInfo> =
            serde_json::from_str(&json).map_err(|e| format!("devices_json: {e}"))?;
        let raw_id = row
            .opt_int("raw_id")?
            .map(|r| u32::try_from(r).map_err(|_| format!("raw_id {r} out of range")))
            .transpose()?;
        imp.batch.push(WriteOp::UpdateDeviceList(DeviceListRecord {
            user: row.text("user_id")?,
            devices,
            timestamp: row.int("timestamp")?,
            phash: row.opt_text("phash")?,
            raw_id,
        }));
        counts.push("device_lists");
        Ok(())
    });

    each_row!("sender_key_devices", |row, imp| {
        imp.batch.push(WriteOp::SetSenderKeyStatus {
            group: row.text("group_jid")?,
            entries: vec![(row.text("device_jid")?, row.boolean("has_key")?)],
        });
        counts.push("sender_key_devices");
        Ok(())
    });

    each_row!("sent_messages", |row, imp| {
        imp.batch.push(WriteOp::StoreSentMessage {
            chat: row.text("chat_jid")?,
            id: row.text("message_id")?,
            payload: row.blob("payload")?.into(),
            sent_at: row.int_or("created_at", 0)?,
        });
        counts.push("sent_messages");
        Ok(())
    });

    each_row!("tc_tokens", |row, imp| {
        imp.tc_tokens.push((
            row.text("jid")?,
            TcTokenEntry {
                token: row.blob("token")?,
                token_timestamp: row.int("token_timestamp")?,
                sender_timestamp: row.opt_int("sender_timestamp")?,
            },
        ));
        counts.push("tc_tokens");
        Ok(())
    });

    for c in counts {
        report.count(c);
    }
    for n in version_notes {
        report.skip(n);
    }
    Ok((imports.into_values().collect(), report))
}

/// A row's key columns, for a message (never a secret).
fn describe(row: &Row<'_>) -> String {
    let mut parts = Vec::new();
    for col in [
        "device_id",
        "address",
        "id",
        "name",
        "lid",
        "user_id",
        "jid",
        "group_jid",
        "device_jid",
        "chat_jid",
        "message_id",
    ] {
        match row.value(col) {
            Some(Value::Text(t)) => parts.push(format!("{col}={t:?}")),
            Some(Value::Integer(i)) => parts.push(format!("{col}={i}")),
            _ => {}
        }
    }
    if parts.is_empty() {
        "(no key columns)".to_string()
    } else {
        parts.join(" ")
    }
}

fn key_pair(row: &Row<'_>, col: &str) -> Result<KeyPair, String> {
    Ok(KeyPair::from_bytes(&row.fixed::<64>(col)?))
}

fn jid(row: &Row<'_>, col: &str) -> Result<Option<Jid>, String> {
    let text = row.text(col)?;
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|e| format!("{col} {text:?} is not a JID: {e}"))
}

/// The device record of one `device` row.
fn device(
    row: &Row<'_>,
    max_prekey: Option<u32>,
    report: &mut ImportReport,
) -> Result<Device, String> {
    let id = row.int32("id")?;
    let mut d = Device::from_keys(DeviceKeys {
        noise_key: key_pair(row, "noise_key")?,
        identity_key: key_pair(row, "identity_key")?,
        registration_id: row.u32_as_i32("registration_id")?,
        signed_pre_key: key_pair(row, "signed_pre_key")?,
        signed_pre_key_id: row.u32_as_i32("signed_pre_key_id")?,
        signed_pre_key_signature: row.fixed::<64>("signed_pre_key_signature")?,
        adv_secret_key: row.fixed::<32>("adv_secret_key")?,
    });
    // ADVSignedDeviceIdentity protobuf bytes in both stores.
    d.account = row.opt_blob("account")?;
    d.pn = jid(row, "pn")?;
    d.lid = jid(row, "lid")?;
    d.push_name = row.opt_text("push_name")?.unwrap_or_default();
    let primary = row.int_or("app_version_primary", 0)?;
    let secondary = row.int_or("app_version_secondary", 0)?;
    let tertiary = row.int_or("app_version_tertiary", 0)?;
    if (primary, secondary, tertiary) != (0, 0, 0) {
        let part = |v: i64, what: &str| {
            u32::try_from(v).map_err(|_| format!("app_version_{what} {v} out of range"))
        };
        d.app_version = Some(AppVersion {
            primary: part(primary, "primary")?,
            secondary: part(secondary, "secondary")?,
            tertiary: part(tertiary, "tertiary")?,
        });
    }
    d.app_version_last_fetched_ms = row.int_or("app_version_last_fetched_ms", 0)?;
    d.edge_routing_info = row.opt_blob("edge_routing_info")?;
    d.props_hash = row.opt_text("props_hash")?;
    // 0 in the source means "not yet derived; use MAX(prekeys.id) + 1".
    let next = row.u32_as_i32_or("next_pre_key_id", 0)?;
    let after_max = max_prekey.map_or(1, |m| m.saturating_add(1));
    d.next_pre_key_id = next.max(after_max);
    d.first_unupload_pre_key_id = row.u32_as_i32_or("first_unupload_pre_key_id", 0)?;
    d.server_has_prekeys = row.boolean("server_has_prekeys")?;
    if let Some(chain) = row.opt_blob("server_cert_chain")? {
        match cert_chain(&chain) {
            Ok(c) => d.server_cert_chain = Some(c),
            // The source also drops an undecodable chain (a cache: the next
            // connect does a full handshake).
            Err(e) => report.skip(format!(
                "device {id}: server_cert_chain not imported ({e}); the next connect refetches it"
            )),
        }
    }
    d.login_counter = row.int32("login_counter").or_else(|e| {
        if row.value("login_counter").is_none() {
            Ok(0)
        } else {
            Err(e)
        }
    })?;
    d.lid_migrated = row.boolean("lid_migrated")?;
    d.last_signed_pre_key_rotation_ms = row.int_or("last_signed_pre_key_rotation_ms", 0)?;
    if row.opt_blob("nct_salt")?.is_some() {
        report.skip(format!(
            "device {id}: nct_salt not imported (no such field here; the server provisions it again)"
        ));
    }
    if row.boolean("read_receipts_disabled")? {
        report.skip(format!(
            "device {id}: read_receipts_disabled = true not imported (no such field here)"
        ));
    }
    Ok(d)
}

// ---------------------------------------------------------------------------
// Counter leases
// ---------------------------------------------------------------------------
//
// wacore-libsignal hands out sending counters in leased batches: a stored
// session (or sender-key) record carries, in its local field 100, a ceiling
// below which counters may already have been used for messages on the wire
// (it persists the ceiling, not every counter). wa_core::signal ignores the
// field, so it would reuse those counters, and with them message keys. The
// importer does what wacore does when a record leaves its lease
// (`waive_counter_lease`): it moves every sending chain up to the ceiling,
// then drops the local fields (100 and 101) by re-encoding the record.

/// Local record field 100: the lease ceiling.
const LEASE_FIELD: u64 = 100;
/// The furthest a chain is moved, as wacore's MAX_RESERVATION_FAST_FORWARD.
const MAX_LEASE_FAST_FORWARD: u32 = 2_000;

/// The lease ceiling of a record (0 when it has none).
fn lease_ceiling(record: &[u8], what: &str) -> Result<u32, String> {
    let mut ceiling = None;
    for (n, f) in fields(record).map_err(|e| format!("{what}: {e}"))? {
        if n == LEASE_FIELD {
            let Field::Varint(v) = f else {
                return Err(format!("{what}: malformed counter lease (field 100)"));
            };
            if ceiling.is_some() {
                return Err(format!("{what}: two counter leases (field 100)"));
            }
            ceiling =
                Some(u32::try_from(v).map_err(|_| format!("{what}: counter lease out of range"))?);
        }
    }
    Ok(ceiling.unwrap_or(0))
}

/// One step of a Signal chain: HMAC-SHA256(key, 0x02).
fn next_chain_key(key: &[u8]) -> Result<Vec<u8>, String> {
    use hmac::{KeyInit as _, Mac as _};
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(key).map_err(|_| "unusable chain key")?;
    mac.update(&[0x02]);
    Ok(mac.finalize().into_bytes().to_vec())
}

/// Steps `(index, key)` up to `ceiling`; `false` when it is implausibly far.
fn fast_forward(index: &mut Option<u32>, key: &mut Vec<u8>, ceiling: u32) -> Result<bool, String> {
    let at = index.unwrap_or(0);
    if at >= ceiling {
        return Ok(true);
    }
    if ceiling - at > MAX_LEASE_FAST_FORWARD {
        return Ok(false);
    }
    for _ in at..ceiling {
        *key = next_chain_key(key)?;
    }
    *index = Some(ceiling);
    Ok(true)
}

/// A session record with its lease burnt and its local fields dropped.
fn session_without_lease(record: &[u8]) -> Result<Vec<u8>, String> {
    use prost::Message as _;
    use wa_core::signal::proto::{RecordStructure, SessionStructure};

    let ceiling = lease_ceiling(record, "session record")?;
    if ceiling == 0 {
        return Ok(record.to_vec());
    }
    let mut r = RecordStructure::decode(record).map_err(|e| format!("session record: {e}"))?;
    let burn = |s: &mut SessionStructure| -> Result<(), String> {
        if let Some(chain) = s.sender_chain.as_mut()
            && let Some(ck) = chain.chain_key.as_mut()
            && !fast_forward(&mut ck.index, &mut ck.key, ceiling)?
        {
            // wacore drops such a chain too: the session is re-established.
            s.sender_chain = None;
        }
        Ok(())
    };
    if let Some(s) = r.current_session.as_mut() {
        burn(s)?;
    }
    for s in &mut r.previous_sessions {
        burn(s)?;
    }
    Ok(r.encode_to_vec())
}

/// A sender-key record with its lease burnt (on its newest state, the one
/// we send with) and its local fields dropped.
fn sender_key_without_lease(record: &[u8]) -> Result<Vec<u8>, String> {
    use prost::Message as _;
    use wa_core::signal::proto::SenderKeyRecordStructure;

    let ceiling = lease_ceiling(record, "sender key record")?;
    if ceiling == 0 {
        return Ok(record.to_vec());
    }
    let mut r =
        SenderKeyRecordStructure::decode(record).map_err(|e| format!("sender key record: {e}"))?;
    if let Some(state) = r.sender_key_states.first_mut()
        && let Some(ck) = state.sender_chain_key.as_mut()
        && !fast_forward(&mut ck.iteration, &mut ck.seed, ceiling)?
    {
        return Err(format!(
            "sender key record: counter lease {ceiling} implausibly far ahead of its chain"
        ));
    }
    Ok(r.encode_to_vec())
}

// ---------------------------------------------------------------------------
// The source's small protobuf messages (wire.proto)
// ---------------------------------------------------------------------------

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Other,
}

fn varint(buf: &mut &[u8]) -> Result<u64, String> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = buf.split_first().ok_or("truncated varint")?;
        *buf = rest;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(out);
        }
    }
    Err("varint too long".into())
}

/// The fields of one protobuf message, in order.
fn fields(mut buf: &[u8]) -> Result<Vec<(u64, Field<'_>)>, String> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let tag = varint(&mut buf)?;
        let field = match tag & 7 {
            0 => Field::Varint(varint(&mut buf)?),
            1 | 5 => {
                let n = if tag & 7 == 1 { 8 } else { 4 };
                if buf.len() < n {
                    return Err("truncated fixed field".into());
                }
                buf = &buf[n..];
                Field::Other
            }
            2 => {
                let len = usize::try_from(varint(&mut buf)?).map_err(|_| "length too large")?;
                if buf.len() < len {
                    return Err("truncated length-delimited field".into());
                }
                let (b, rest) = buf.split_at(len);
                buf = rest;
                Field::Bytes(b)
            }
            w => return Err(format!("unsupported wire type {w}")),
        };
        out.push((tag >> 3, field));
    }
    Ok(out)
}

fn noise_cert(buf: &[u8]) -> Result<CachedNoiseCert, String> {
    let (mut key, mut not_before, mut not_after) = (Vec::new(), 0, 0);
    for (n, f) in fields(buf)? {
        match (n, f) {
            (1, Field::Bytes(b)) => key = b.to_vec(),
            (2, Field::Varint(v)) => not_before = v as i64,
            (3, Field::Varint(v)) => not_after = v as i64,
            _ => {}
        }
    }
    let len = key.len();
    Ok(CachedNoiseCert {
        key: key
            .try_into()
            .map_err(|_| format!("noise cert key of {len} bytes"))?,
        not_before,
        not_after,
    })
}

fn cert_chain(buf: &[u8]) -> Result<CachedServerCertChain, String> {
    let (mut intermediate, mut leaf) = (None, None);
    for (n, f) in fields(buf)? {
        match (n, f) {
            (1, Field::Bytes(b)) => intermediate = Some(noise_cert(b)?),
            (2, Field::Bytes(b)) => leaf = Some(noise_cert(b)?),
            _ => {}
        }
    }
    Ok(CachedServerCertChain {
        intermediate: intermediate.ok_or("intermediate certificate missing")?,
        leaf: leaf.ok_or("leaf certificate missing")?,
    })
}

fn sync_key(buf: &[u8]) -> Result<AppStateSyncKey, String> {
    let mut key = AppStateSyncKey::default();
    for (n, f) in fields(buf).map_err(|e| format!("key_data: {e}"))? {
        match (n, f) {
            (1, Field::Bytes(b)) => key.key_data = b.to_vec(),
            (2, Field::Bytes(b)) => key.fingerprint = b.to_vec(),
            (3, Field::Varint(v)) => key.timestamp = v as i64,
            _ => {}
        }
    }
    if key.key_data.len() != 32 {
        return Err(format!(
            "key_data holds a {}-byte key, expected 32 (an old bincode row?)",
            key.key_data.len()
        ));
    }
    Ok(key)
}

/// The state, the number of index_value_map entries and the fatal flag.
fn hash_state(buf: &[u8]) -> Result<(HashState, usize, bool), String> {
    let (mut version, mut hash, mut entries, mut fatal) = (0, Vec::new(), BTreeSet::new(), false);
    for (n, f) in fields(buf).map_err(|e| format!("state_data: {e}"))? {
        match (n, f) {
            (1, Field::Varint(v)) => version = v,
            (2, Field::Bytes(b)) => hash = b.to_vec(),
            (3, Field::Bytes(b)) => {
                entries.insert(b.to_vec());
            }
            (4, Field::Varint(v)) => fatal = v != 0,
            _ => {}
        }
    }
    let len = hash.len();
    let hash: [u8; 128] = hash.try_into().map_err(|_| {
        format!("state_data hash of {len} bytes, expected 128 (an old bincode row?)")
    })?;
    Ok((HashState { version, hash }, entries.len(), fatal))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protobuf_reader_refuses_garbage_without_panicking() {
        for junk in [&[0xff_u8; 11][..], &[0x0a, 0x05, 1], &[0x0b], &[0x80]] {
            let _ = fields(junk);
            let _ = cert_chain(junk);
            let _ = sync_key(junk);
            let _ = hash_state(junk);
        }
        assert!(sync_key(&[0x0a, 0x02, 1, 2]).is_err());
    }

    #[test]
    fn sync_key_and_hash_state_decode() {
        let mut buf = vec![0x0a, 32];
        buf.extend([7u8; 32]);
        buf.extend([0x12, 2, 9, 8, 0x18, 5]);
        let k = sync_key(&buf).unwrap();
        assert_eq!(k.key_data, vec![7; 32]);
        assert_eq!(k.fingerprint, vec![9, 8]);
        assert_eq!(k.timestamp, 5);

        let mut buf = vec![0x08, 3, 0x12, 0x80, 0x01];
        buf.extend([1u8; 128]);
        buf.extend([0x20, 1]);
        let (s, entries, fatal) = hash_state(&buf).unwrap();
        assert_eq!((s.version, s.hash, entries, fatal), (3, [1; 128], 0, true));
    }
}
