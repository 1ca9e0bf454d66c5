//! Model test: random sequences of store calls give the same answers on a
//! `RedbStore` as on wa-core's reference `MemoryStore`.

use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;
use wa_core::store::{
    AppStateMutationMAC, AppSyncStore, Backend, InboxEntry, LidPnMappingEntry, MemoryStore,
    ProtocolStore, SignalStore, TcTokenEntry, WriteBatch, apply_batch,
};
use wa_store_redb::RedbStore;

/// Small key spaces so calls collide; keys include the tricky ones.
const KEYS: &[&str] = &[
    "",
    "a",
    "a:b",
    "a\0",
    "ção",
    "5511987650001.0",
    "5511987650001",
];

#[derive(Debug, Clone)]
enum Call {
    PutSession(usize, Vec<u8>),
    PutSessions(Vec<(usize, Vec<u8>)>),
    DeleteSession(usize),
    StorePrekeys(Vec<u32>, bool),
    RemovePrekey(u32),
    MarkUploaded(Vec<u32>),
    PutMacs(usize, u64, Vec<(u8, u8)>),
    DeleteMacs(usize, Vec<u8>),
    ClearMacs(usize),
    SetSenderKeyStatus(usize, Vec<(usize, bool)>),
    ClearSenderKeyDevices(usize),
    PutLidMappings(Vec<(usize, usize, i64)>),
    PutTcToken(usize, bool, i64, Option<i64>),
    ExpireTcTokens(i64, i64),
    StoreSent(usize, usize, i64),
    TakeSent(usize, usize),
    ExpireSent(i64),
    PutInbox(usize, usize, i64, u8),
    RemoveInbox(usize, usize),
    ListInbox(usize),
    /// A batch of inbox puts and removals, with a session.
    InboxBatch(Vec<InboxOp>),
}

/// One inbox operation of a batch: chat and id (indexes into `KEYS`), then
/// `Some((timestamp, tag))` for a put, `None` for a removal.
type InboxOp = (usize, usize, Option<(i64, u8)>);

fn inbox_entry(chat: usize, id: usize, timestamp: i64, tag: u8) -> InboxEntry {
    InboxEntry {
        chat: KEYS[chat].into(),
        id: KEYS[id].into(),
        sender: format!("sender-{tag}"),
        timestamp,
        payload: vec![tag; usize::from(tag % 4)],
    }
}

fn key() -> impl Strategy<Value = usize> {
    0..KEYS.len()
}

fn call() -> impl Strategy<Value = Call> {
    let bytes = proptest::collection::vec(any::<u8>(), 0..8);
    prop_oneof![
        (key(), bytes.clone()).prop_map(|(k, v)| Call::PutSession(k, v)),
        proptest::collection::vec((key(), bytes.clone()), 0..4).prop_map(Call::PutSessions),
        key().prop_map(Call::DeleteSession),
        (proptest::collection::vec(0u32..20, 0..6), any::<bool>())
            .prop_map(|(ids, up)| Call::StorePrekeys(ids, up)),
        (0u32..20).prop_map(Call::RemovePrekey),
        proptest::collection::vec(0u32..20, 0..6).prop_map(Call::MarkUploaded),
        (
            0usize..3,
            0u64..5,
            proptest::collection::vec((0u8..6, any::<u8>()), 0..5)
        )
            .prop_map(|(c, v, m)| Call::PutMacs(c, v, m)),
        (0usize..3, proptest::collection::vec(0u8..6, 0..4))
            .prop_map(|(c, m)| Call::DeleteMacs(c, m)),
        (0usize..3).prop_map(Call::ClearMacs),
        (
            key(),
            proptest::collection::vec((key(), any::<bool>()), 0..4)
        )
            .prop_map(|(g, e)| Call::SetSenderKeyStatus(g, e)),
        key().prop_map(Call::ClearSenderKeyDevices),
        proptest::collection::vec((0usize..4, 0usize..3, -2i64..3), 0..4)
            .prop_map(Call::PutLidMappings),
        (
            key(),
            any::<bool>(),
            -2i64..3,
            proptest::option::of(-2i64..3)
        )
            .prop_map(|(j, t, ts, s)| Call::PutTcToken(j, t, ts, s)),
        (-2i64..3, -2i64..3).prop_map(|(a, b)| Call::ExpireTcTokens(a, b)),
        (key(), key(), -2i64..3).prop_map(|(c, m, t)| Call::StoreSent(c, m, t)),
        (key(), key()).prop_map(|(c, m)| Call::TakeSent(c, m)),
        (-2i64..3).prop_map(Call::ExpireSent),
        (key(), key(), -2i64..3, any::<u8>()).prop_map(|(c, m, t, p)| Call::PutInbox(c, m, t, p)),
        (key(), key()).prop_map(|(c, m)| Call::RemoveInbox(c, m)),
        (0usize..6).prop_map(Call::ListInbox),
        proptest::collection::vec(
            (key(), key(), proptest::option::of((-2i64..3, any::<u8>()))),
            0..5
        )
        .prop_map(Call::InboxBatch),
    ]
}

fn mac(i: u8) -> Vec<u8> {
    vec![i; 3]
}

/// Runs one call and returns everything observable about its result.
async fn apply<S: Backend>(s: &S, c: &Call) -> String {
    let collection = |i: usize| ["regular", "regular_high", "regular_low"][i];
    match c {
        Call::PutSession(k, v) => format!(
            "{:?}",
            s.put_session(KEYS[*k], v).await.map_err(|e| e.to_string())
        ),
        Call::PutSessions(rows) => {
            let rows: Vec<(Arc<str>, Bytes)> = rows
                .iter()
                .map(|(k, v)| (Arc::from(KEYS[*k]), Bytes::from(v.clone())))
                .collect();
            format!(
                "{:?}",
                s.put_sessions_batch(&rows).await.map_err(|e| e.to_string())
            )
        }
        Call::DeleteSession(k) => format!("{:?}", s.delete_session(KEYS[*k]).await.is_ok()),
        Call::StorePrekeys(ids, up) => {
            let keys: Vec<(u32, Bytes)> = ids
                .iter()
                .map(|&id| (id, Bytes::from(vec![id as u8; 3])))
                .collect();
            format!("{:?}", s.store_prekeys_batch(&keys, *up).await.is_ok())
        }
        Call::RemovePrekey(id) => format!("{:?}", s.remove_prekey(*id).await.is_ok()),
        Call::MarkUploaded(ids) => format!("{:?}", s.mark_prekeys_uploaded(ids).await.is_ok()),
        Call::PutMacs(c, v, m) => {
            let macs: Vec<AppStateMutationMAC> = m
                .iter()
                .map(|&(i, v)| AppStateMutationMAC {
                    index_mac: mac(i),
                    value_mac: vec![v],
                })
                .collect();
            format!(
                "{:?}",
                s.put_mutation_macs(collection(*c), *v, &macs).await.is_ok()
            )
        }
        Call::DeleteMacs(c, m) => {
            let m: Vec<Vec<u8>> = m.iter().map(|&i| mac(i)).collect();
            format!(
                "{:?}",
                s.delete_mutation_macs(collection(*c), &m).await.is_ok()
            )
        }
        Call::ClearMacs(c) => format!("{:?}", s.clear_mutation_macs(collection(*c)).await.is_ok()),
        Call::SetSenderKeyStatus(g, e) => {
            let e: Vec<(&str, bool)> = e.iter().map(|&(d, b)| (KEYS[d], b)).collect();
            format!("{:?}", s.set_sender_key_status(KEYS[*g], &e).await.is_ok())
        }
        Call::ClearSenderKeyDevices(g) => {
            format!("{:?}", s.clear_sender_key_devices(KEYS[*g]).await.is_ok())
        }
        Call::PutLidMappings(m) => {
            let m: Vec<LidPnMappingEntry> = m
                .iter()
                .map(|&(lid, pn, t)| LidPnMappingEntry {
                    lid: format!("10{lid}"),
                    phone_number: format!("55{pn}"),
                    created_at: t,
                    updated_at: t,
                    learning_source: "usync".into(),
                })
                .collect();
            format!("{:?}", s.put_lid_mappings(&m).await.is_ok())
        }
        Call::PutTcToken(j, t, ts, st) => {
            let e = TcTokenEntry {
                token: if *t { vec![1, 2] } else { vec![] },
                token_timestamp: *ts,
                sender_timestamp: *st,
            };
            format!("{:?}", s.put_tc_token(KEYS[*j], &e).await.is_ok())
        }
        Call::ExpireTcTokens(a, b) => {
            format!("{:?}", s.delete_expired_tc_tokens(*a, *b).await.ok())
        }
        Call::StoreSent(c, m, t) => {
            format!(
                "{:?}",
                s.store_sent_message(KEYS[*c], KEYS[*m], &[*c as u8, *m as u8], *t)
                    .await
                    .is_ok()
            )
        }
        Call::TakeSent(c, m) => format!("{:?}", s.take_sent_message(KEYS[*c], KEYS[*m]).await.ok()),
        Call::ExpireSent(t) => format!("{:?}", s.delete_expired_sent_messages(*t).await.ok()),
        Call::PutInbox(c, m, t, p) => format!(
            "{:?}",
            s.put_inbox(&inbox_entry(*c, *m, *t, *p)).await.is_ok()
        ),
        Call::RemoveInbox(c, m) => {
            format!("{:?}", s.remove_inbox(KEYS[*c], KEYS[*m]).await.is_ok())
        }
        Call::ListInbox(limit) => format!("{:?}", s.list_inbox(*limit).await.ok()),
        Call::InboxBatch(ops) => {
            let mut batch = WriteBatch::new();
            batch.put_session("inbox-batch", vec![ops.len() as u8]);
            for &(c, m, put) in ops {
                match put {
                    Some((t, p)) => batch.put_inbox(inbox_entry(c, m, t, p)),
                    None => batch.remove_inbox(KEYS[c], KEYS[m]),
                }
            }
            format!("{:?}", apply_batch(s, &batch).await.ok())
        }
    }
}

/// Everything the store holds, as read through the traits.
async fn observe<S: SignalStore + AppSyncStore + ProtocolStore>(s: &S) -> String {
    let mut out = String::new();
    for k in KEYS {
        out += &format!("session {k:?}: {:?}\n", s.get_session(k).await.ok());
        out += &format!("skd {k:?}: {:?}\n", s.get_sender_key_devices(k).await.ok());
        out += &format!(
            "tc {k:?}: {:?}\n",
            s.get_tc_token(k).await.ok().map(|t| t.map(|t| (
                t.token,
                t.token_timestamp,
                t.sender_timestamp
            )))
        );
    }
    let ids: Vec<u32> = (0..20).collect();
    out += &format!("prekeys: {:?}\n", s.load_prekeys_batch(&ids).await.ok());
    for id in 0..20 {
        out += &format!("uploaded {id}: {:?}\n", s.is_prekey_uploaded(id).await.ok());
    }
    out += &format!("max prekey: {:?}\n", s.get_max_prekey_id().await.ok());
    for c in ["regular", "regular_high", "regular_low"] {
        for i in 0..6 {
            out += &format!(
                "mac {c} {i}: {:?}\n",
                s.get_mutation_mac(c, &mac(i)).await.ok()
            );
        }
    }
    out += &format!("lids: {:?}\n", s.get_all_lid_mappings().await.ok());
    for pn in 0..3 {
        out += &format!(
            "pn {pn}: {:?}\n",
            s.get_pn_mapping(&format!("55{pn}")).await.ok()
        );
    }
    out += &format!("tc jids: {:?}\n", s.get_all_tc_token_jids().await.ok());
    out += &format!("inbox: {:?}\n", s.list_inbox(usize::MAX).await.ok());
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn redb_answers_like_the_memory_store(calls in proptest::collection::vec(call(), 1..30)) {
        let redb = RedbStore::in_memory().unwrap();
        let memory = MemoryStore::new();
        smol::block_on(async {
            for (i, c) in calls.iter().enumerate() {
                let a = apply(&redb, c).await;
                let b = apply(&memory, c).await;
                prop_assert_eq!(a, b, "call {} {:?}", i, c);
            }
            prop_assert_eq!(observe(&redb).await, observe(&memory).await);
            Ok(())
        })?;
    }
}
