//! Inspection: row counts, a full decode check, JSON export and compaction.
//! These walk whole tables on the calling thread; they are for tools
//! (the `wa-store` binary) and tests, not for an async hot path.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use redb::{ReadTransaction, ReadableTable};
use serde_json::{Map, Value, json};
use wa_core::store::{StoreError, StoreResult};

use crate::convert;
use crate::error;
use crate::schema::{
    self, Blob, DecodedKey, DeviceListV1, DeviceV1, Family, HashStateV1, INBOX, INBOX_INDEX,
    InboxV1, KeyPart, LID_MAPPINGS, LidMappingV1, META, META_SCHEMA_VERSION, MacV1, PN_INDEX,
    PrekeyV1, SentMessageV1, SyncKeyV1, TcTokenV1, ValueKind, decode,
};
use crate::store::{OrStore, open_read};
use crate::{RedbOptions, RedbStore};

/// Row counts of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRows {
    /// The table's name, e.g. `sessions_v1`.
    pub table: &'static str,
    /// Rows in the table.
    pub rows: u64,
    /// Rows per device id (keys too short to hold one are counted in `rows` only).
    pub per_device: BTreeMap<i32, u64>,
}

/// What [`RedbStore::stats`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// The file's size in bytes; `None` for a store without a file.
    pub file_size: Option<u64>,
    /// The schema version recorded in the file.
    pub schema_version: u32,
    /// Every record table, in a fixed order.
    pub tables: Vec<TableRows>,
}

/// One record that failed [`RedbStore::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The table holding the record.
    pub table: String,
    /// A printable form of the record's key.
    pub key: String,
    /// What is wrong.
    pub detail: String,
}

impl Problem {
    /// The same finding as a [`StoreError::Corrupt`].
    pub fn to_error(&self) -> StoreError {
        StoreError::corrupt(self.table.clone(), self.key.clone(), self.detail.clone())
    }
}

/// What [`RedbStore::check`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Records decoded.
    pub records: u64,
    /// Records that do not decode or break an invariant; empty when healthy.
    pub problems: Vec<Problem>,
}

impl CheckReport {
    /// Whether no problem was found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What [`RedbStore::compact`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactReport {
    /// File size before, bytes.
    pub size_before: u64,
    /// File size after, bytes.
    pub size_after: u64,
}

pub(crate) fn schema_version(txn: &ReadTransaction) -> StoreResult<u32> {
    let meta = open_read(txn, META)?
        .ok_or_else(|| StoreError::corrupt("meta", "schema_version", "missing meta table"))?;
    let g = meta
        .get(META_SCHEMA_VERSION)
        .or_store()?
        .ok_or_else(|| StoreError::corrupt("meta", "schema_version", "missing"))?;
    let b: [u8; 4] = g
        .value()
        .try_into()
        .map_err(|_| StoreError::corrupt("meta", "schema_version", "not a 4-byte version"))?;
    Ok(u32::from_le_bytes(b))
}

impl RedbStore {
    /// Rows per table and per device id, and the file size. Reads every key.
    pub fn stats(&self) -> StoreResult<Stats> {
        let file_size = match self.path() {
            Some(p) => Some(std::fs::metadata(p)?.len()),
            None => None,
        };
        self.read(|txn| stats_in(txn, file_size))
    }

    /// Decodes every record of every table, all in one read transaction, and
    /// checks the invariants between tables (each LID mapping has exactly its
    /// phone-number index row; each inbox entry has exactly its index row,
    /// holding the entry's timestamp). Problems are collected, not returned as
    /// the first error; `Err` means the walk itself failed (I/O, damaged pages).
    pub fn check(&self) -> StoreResult<CheckReport> {
        self.read(check_in)
    }

    /// Writes every record as one JSON object per line (`meta` first) and
    /// returns how many lines were written. Secrets (session, prekey, signed
    /// prekey and sender-key records, private keys, the ADV secret, sync-key
    /// data, trusted-contact tokens, sent-message payloads, inbox payloads,
    /// which are decrypted messages) are replaced by
    /// `{"redacted":true,"len":N}` unless `include_secrets`. A record that
    /// does not decode is written with its `error`.
    pub fn export(&self, out: &mut dyn Write, include_secrets: bool) -> StoreResult<u64> {
        self.read(|txn| export_in(txn, out, include_secrets))
    }

    /// Compacts the store file at `path`, returning the sizes before and
    /// after. Verifies the file first (and recovers it if a crash left it).
    ///
    /// This writes, so it needs the file to itself: while any store or
    /// reader (a [`ReadOnlyStore`](crate::ReadOnlyStore), `wa-store stats`)
    /// has it open, in this process or another, it fails with
    /// [`StoreError::Backend`] with a [`FileInUse`](crate::FileInUse) source
    /// and leaves the file untouched.
    pub fn compact(path: impl AsRef<Path>) -> StoreResult<CompactReport> {
        let path = path.as_ref();
        let size_before = std::fs::metadata(path)?.len();
        error::guard(|| {
            let options = RedbOptions::default();
            let mut db = crate::builder(&options)
                .open(path)
                .map_err(error::database)?;
            // Each round moves pages towards the start; a few rounds reach
            // the fixed point on any realistic file.
            for _ in 0..16 {
                if !db.compact().map_err(StoreError::backend)? {
                    break;
                }
            }
            db.close().map_err(error::database)
        })?;
        Ok(CompactReport {
            size_before,
            size_after: std::fs::metadata(path)?.len(),
        })
    }
}

/// [`RedbStore::stats`] on one read transaction (of a store or a read-only handle).
pub(crate) fn stats_in(txn: &ReadTransaction, file_size: Option<u64>) -> StoreResult<Stats> {
    let mut tables = Vec::with_capacity(schema::FAMILIES.len());
    for family in schema::FAMILIES {
        let mut t = TableRows {
            table: family.name,
            rows: 0,
            per_device: BTreeMap::new(),
        };
        if let Some(table) = open_read(txn, family.def)? {
            for row in table.iter().or_store()? {
                let (k, _) = row.or_store()?;
                t.rows += 1;
                if let Some(id) = schema::device_of(k.value()) {
                    *t.per_device.entry(id).or_default() += 1;
                }
            }
        }
        tables.push(t);
    }
    Ok(Stats {
        file_size,
        schema_version: schema_version(txn)?,
        tables,
    })
}

/// [`RedbStore::check`] on one read transaction.
pub(crate) fn check_in(txn: &ReadTransaction) -> StoreResult<CheckReport> {
    let mut report = CheckReport::default();
    schema_version(txn)?;
    let problem = |family: Family, key: &[u8], detail: String| Problem {
        table: family.name.to_owned(),
        key: schema::key_label(family.key, key),
        detail,
    };
    // Index rows each mapping should have, and the ones found.
    let mut wanted_index: Vec<Vec<u8>> = Vec::new();
    let mut found_index: Vec<Vec<u8>> = Vec::new();
    // The same for the inbox: (index key, timestamp) of each entry,
    // and the index rows found.
    let mut wanted_inbox: Vec<(Vec<u8>, i64)> = Vec::new();
    let mut found_inbox: Vec<(Vec<u8>, i64)> = Vec::new();
    for &family in schema::FAMILIES {
        let Some(table) = open_read(txn, family.def)? else {
            continue;
        };
        for row in table.iter().or_store()? {
            let (k, v) = row.or_store()?;
            let (k, v) = (k.value(), v.value());
            report.records += 1;
            let key = match schema::decode_key(family.key, k) {
                Ok(key) => key,
                Err(d) => {
                    report.problems.push(problem(family, k, d));
                    continue;
                }
            };
            if let Err(d) = validate_value(family.value, v) {
                report.problems.push(problem(family, k, d));
                continue;
            }
            let invariant = match family.value {
                ValueKind::LidMapping => {
                    let m = decode::<LidMappingV1<'_>>(v).map_err(StoreError::backend)?;
                    wanted_index.push(
                        schema::KeyBuf::new(key.device, 0)
                            .escaped(m.phone_number.as_bytes())
                            .raw(&schema::ordered_i64(m.updated_at))
                            .raw(m.lid.as_bytes())
                            .into_vec(),
                    );
                    same_str(&key, "lid", m.lid)
                }
                ValueKind::DeviceList => {
                    let r = decode::<DeviceListV1<'_>>(v).map_err(StoreError::backend)?;
                    same_str(&key, "user", r.user)
                }
                ValueKind::Empty => {
                    found_index.push(k.to_vec());
                    Ok(())
                }
                ValueKind::Inbox => match (key.parts.first(), key.parts.get(1), key.parts.get(2)) {
                    (
                        Some((_, KeyPart::I64(ts))),
                        Some((_, KeyPart::Str(chat))),
                        Some((_, KeyPart::Str(id))),
                    ) => {
                        wanted_inbox.push((
                            schema::KeyBuf::new(key.device, 0)
                                .escaped(chat.as_bytes())
                                .raw(id.as_bytes())
                                .into_vec(),
                            *ts,
                        ));
                        Ok(())
                    }
                    _ => Err("inbox key without its components".to_owned()),
                },
                ValueKind::InboxIndex => {
                    let ts = decode::<i64>(v).map_err(StoreError::backend)?;
                    found_inbox.push((k.to_vec(), ts));
                    Ok(())
                }
                _ => Ok(()),
            };
            if let Err(d) = invariant {
                report.problems.push(problem(family, k, d));
            }
        }
    }
    wanted_index.sort();
    found_index.sort();
    for k in &found_index {
        if wanted_index.binary_search(k).is_err() {
            report.problems.push(problem(
                PN_INDEX,
                k,
                "index row without a matching LID mapping".into(),
            ));
        }
    }
    for k in &wanted_index {
        if found_index.binary_search(k).is_err() {
            report.problems.push(problem(
                LID_MAPPINGS,
                k,
                "LID mapping without its phone-number index row \
                 (key shown is the missing index row)"
                    .into(),
            ));
        }
    }
    wanted_inbox.sort();
    found_inbox.sort();
    for row in &found_inbox {
        if wanted_inbox.binary_search(row).is_err() {
            report.problems.push(problem(
                INBOX_INDEX,
                &row.0,
                format!("index row without an inbox entry at timestamp {}", row.1),
            ));
        }
    }
    for row in &wanted_inbox {
        if found_inbox.binary_search(row).is_err() {
            let entry_key = schema::inbox_key(&row.0, row.1);
            report.problems.push(problem(
                INBOX,
                &entry_key,
                "inbox entry without its index row".into(),
            ));
        }
    }
    Ok(report)
}

/// [`RedbStore::export`] on one read transaction.
pub(crate) fn export_in(
    txn: &ReadTransaction,
    out: &mut dyn Write,
    include_secrets: bool,
) -> StoreResult<u64> {
    let mut lines = 0u64;
    let mut emit = |v: Value| -> StoreResult<()> {
        serde_json::to_writer(&mut *out, &v).map_err(StoreError::serialization)?;
        out.write_all(b"\n")?;
        lines += 1;
        Ok(())
    };
    emit(json!({"table": "meta", "schema_version": schema_version(txn)?}))?;
    for &family in schema::FAMILIES {
        let Some(table) = open_read(txn, family.def)? else {
            continue;
        };
        for row in table.iter().or_store()? {
            let (k, v) = row.or_store()?;
            let (k, v) = (k.value(), v.value());
            let mut line = Map::new();
            line.insert("table".into(), family.name.into());
            let decoded = schema::decode_key(family.key, k).and_then(|key| {
                Ok((
                    key_json(&key),
                    value_json(family.value, v, include_secrets)?,
                ))
            });
            match decoded {
                Ok((key, value)) => {
                    line.insert("key".into(), key);
                    line.insert("value".into(), value);
                }
                Err(detail) => {
                    line.insert("key_hex".into(), hex::encode(k).into());
                    line.insert("error".into(), detail.into());
                    line.insert("value".into(), secret(v, include_secrets));
                }
            }
            emit(Value::Object(line))?;
        }
    }
    out.flush()?;
    Ok(lines)
}

fn same_str(key: &DecodedKey, field: &str, value: &str) -> Result<(), String> {
    match key.parts.iter().find(|(name, _)| *name == field) {
        Some((_, KeyPart::Str(s))) if s == value => Ok(()),
        _ => Err(format!("record's {field} {value:?} differs from its key")),
    }
}

fn key_json(key: &DecodedKey) -> Value {
    let mut m = Map::new();
    m.insert("device".into(), key.device.into());
    for (name, part) in &key.parts {
        let v = match part {
            KeyPart::Str(s) => Value::from(s.as_str()),
            KeyPart::Bytes(b) => Value::from(hex::encode(b)),
            KeyPart::U32(n) => Value::from(*n),
            KeyPart::I64(n) => Value::from(*n),
        };
        m.insert((*name).into(), v);
    }
    Value::Object(m)
}

fn secret(bytes: &[u8], include: bool) -> Value {
    if include {
        Value::from(hex::encode(bytes))
    } else {
        json!({"redacted": true, "len": bytes.len()})
    }
}

fn key_pair_json(b: Blob<'_>, include: bool) -> Value {
    match b.0.split_at_checked(32) {
        Some((private, public)) => {
            json!({"public": hex::encode(public), "private": secret(private, include)})
        }
        None => secret(b.0, include),
    }
}

fn value_json(kind: ValueKind, v: &[u8], include: bool) -> Result<Value, String> {
    validate_value(kind, v)?;
    Ok(match kind {
        ValueKind::Identity => json!({"identity_key": hex::encode(decode::<Blob<'_>>(v)?.0)}),
        ValueKind::Blob { secret: true } => {
            json!({"bytes": secret(decode::<Blob<'_>>(v)?.0, include)})
        }
        ValueKind::Blob { secret: false } => {
            json!({"bytes": hex::encode(decode::<Blob<'_>>(v)?.0)})
        }
        ValueKind::Prekey => {
            let p = decode::<PrekeyV1<'_>>(v)?;
            json!({"record": secret(p.record.0, include), "uploaded": p.uploaded})
        }
        ValueKind::SyncKey => {
            let k = decode::<SyncKeyV1<'_>>(v)?;
            json!({
                "key_data": secret(k.key_data.0, include),
                "fingerprint": hex::encode(k.fingerprint.0),
                "timestamp": k.timestamp,
            })
        }
        ValueKind::HashState => {
            let h = decode::<HashStateV1<'_>>(v)?;
            json!({"version": h.version, "hash": hex::encode(h.hash.0)})
        }
        ValueKind::Mac => {
            let m = decode::<MacV1<'_>>(v)?;
            json!({"version": m.version, "value_mac": hex::encode(m.value_mac.0)})
        }
        ValueKind::Flag => json!({"has_sender_key": decode::<bool>(v)?}),
        ValueKind::LidMapping => {
            let m = decode::<LidMappingV1<'_>>(v)?;
            json!({
                "lid": m.lid,
                "phone_number": m.phone_number,
                "created_at": m.created_at,
                "updated_at": m.updated_at,
                "learning_source": m.learning_source,
            })
        }
        ValueKind::Empty => json!({}),
        ValueKind::DeviceList => {
            let r = convert::device_list_from_v1(&decode::<DeviceListV1<'_>>(v)?);
            serde_json::to_value(r).map_err(|e| e.to_string())?
        }
        ValueKind::TcToken => {
            let t = decode::<TcTokenV1<'_>>(v)?;
            json!({
                "token": secret(t.token.0, include),
                "token_timestamp": t.token_timestamp,
                "sender_timestamp": t.sender_timestamp,
            })
        }
        ValueKind::SentMessage => {
            let m = decode::<SentMessageV1<'_>>(v)?;
            json!({"payload": secret(m.payload.0, include), "sent_at": m.sent_at})
        }
        ValueKind::Inbox => {
            let m = decode::<InboxV1<'_>>(v)?;
            json!({"sender": m.sender, "payload": secret(m.payload.0, include)})
        }
        ValueKind::InboxIndex => json!({"timestamp": decode::<i64>(v)?}),
        ValueKind::Device => {
            let d = decode::<DeviceV1<'_>>(v)?;
            json!({
                "noise_key": key_pair_json(d.noise_key, include),
                "identity_key": key_pair_json(d.identity_key, include),
                "registration_id": d.registration_id,
                "signed_pre_key": key_pair_json(d.signed_pre_key, include),
                "signed_pre_key_id": d.signed_pre_key_id,
                "signed_pre_key_signature": hex::encode(d.signed_pre_key_signature.0),
                "adv_secret_key": secret(d.adv_secret_key.0, include),
                "account": d.account.map(|a| hex::encode(a.0)),
                "pn": d.pn,
                "lid": d.lid,
                "push_name": d.push_name,
                "business_name": d.business_name,
                "platform": d.platform,
                "edge_routing_info": d.edge_routing_info.map(|e| hex::encode(e.0)),
                "server_cert_chain": d.server_cert_chain.map(|c| json!({
                    "intermediate": {"key": hex::encode(c.intermediate.key.0), "not_before": c.intermediate.not_before, "not_after": c.intermediate.not_after},
                    "leaf": {"key": hex::encode(c.leaf.key.0), "not_before": c.leaf.not_before, "not_after": c.leaf.not_after},
                })),
                "login_counter": d.login_counter,
                "lid_migrated": d.lid_migrated,
                "app_version": d.app_version.map(|(a, b, c)| json!([a, b, c])),
                "app_version_last_fetched_ms": d.app_version_last_fetched_ms,
                "props_hash": d.props_hash,
                "next_pre_key_id": d.next_pre_key_id,
                "first_unupload_pre_key_id": d.first_unupload_pre_key_id,
                "server_has_prekeys": d.server_has_prekeys,
                "last_signed_pre_key_rotation_ms": d.last_signed_pre_key_rotation_ms,
            })
        }
    })
}

/// Decodes a record value of `kind` and checks its invariants (lengths).
/// Used by `check`; the store's own readers decode the same shapes. It lives
/// here, not in `schema`, because the device check needs `convert`, which
/// builds on `schema`.
fn validate_value(kind: ValueKind, value: &[u8]) -> Result<(), String> {
    match kind {
        ValueKind::Identity => decode::<Blob<'_>>(value)?
            .fixed::<32>("identity key")
            .map(drop),
        ValueKind::Blob { .. } => decode::<Blob<'_>>(value).map(drop),
        ValueKind::Prekey => decode::<PrekeyV1<'_>>(value).map(drop),
        ValueKind::SyncKey => decode::<SyncKeyV1<'_>>(value).map(drop),
        ValueKind::HashState => decode::<HashStateV1<'_>>(value)?
            .hash
            .fixed::<128>("hash")
            .map(drop),
        ValueKind::Mac => decode::<MacV1<'_>>(value).map(drop),
        ValueKind::Flag => decode::<bool>(value).map(drop),
        ValueKind::LidMapping => decode::<LidMappingV1<'_>>(value).map(drop),
        ValueKind::Empty => decode::<()>(value),
        ValueKind::DeviceList => decode::<DeviceListV1<'_>>(value).map(drop),
        ValueKind::TcToken => decode::<TcTokenV1<'_>>(value).map(drop),
        ValueKind::SentMessage => decode::<SentMessageV1<'_>>(value).map(drop),
        ValueKind::Device => convert::device_from_v1(&decode::<DeviceV1<'_>>(value)?).map(drop),
        ValueKind::Inbox => decode::<InboxV1<'_>>(value).map(drop),
        ValueKind::InboxIndex => decode::<i64>(value).map(drop),
    }
}
