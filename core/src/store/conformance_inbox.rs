//! Conformance checks for the inbox (feature `conformance`):
//! [`ProtocolStore::put_inbox`], [`ProtocolStore::remove_inbox`],
//! [`ProtocolStore::list_inbox`] and their [`WriteOp`](super::WriteOp)s.
//!
//! The inbox is an optional part of the store contract (a backend written
//! before it gets [`StoreError::Unsupported`](super::StoreError::Unsupported)
//! from the trait's defaults), so these checks are not part of
//! [`conformance::run_all`](super::conformance::run_all): a backend that has an
//! inbox runs [`check_inbox`] as well.
//!
//! ```
//! use wa_core::store::conformance::StorePair;
//! use wa_core::store::conformance_inbox::check_inbox;
//! use wa_core::store::{DeviceStore, MemoryStore};
//!
//! smol::block_on(check_inbox(|| async {
//!     let primary = MemoryStore::new();
//!     let id = primary.create().await.expect("create");
//!     let secondary = primary.for_device(id);
//!     StorePair { primary, secondary }
//! }));
//! ```

use std::future::Future;

use super::conformance::{Check, StorePair, TRICKY_KEYS, pattern};
use super::{Backend, InboxEntry, ProtocolStore, WriteBatch, apply_batch};

/// Runs every inbox check, each on a fresh [`StorePair`] from `make` (two
/// handles on one fresh storage, addressing two different device ids). Panics
/// on the first broken contract, naming the check.
pub async fn check_inbox<F, Fut, S>(mut make: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = StorePair<S>>,
    S: Backend,
{
    inbox_put_replace_remove(&make().await.primary).await;
    inbox_order_and_limit(&make().await.primary).await;
    inbox_keys(&make().await.primary).await;
    inbox_large_payload(&make().await.primary).await;
    inbox_in_batches(&make().await.primary).await;
    let pair = make().await;
    inbox_isolation_between_device_ids(&pair.primary, &pair.secondary).await;
}

/// An entry whose sender and payload are derived from its key and `tag`, so a
/// replaced entry differs in every field but the key.
fn entry(chat: &str, id: &str, timestamp: i64, tag: &str) -> InboxEntry {
    InboxEntry {
        chat: chat.into(),
        id: id.into(),
        sender: format!("{tag}:sender-of-{chat}/{id}"),
        timestamp,
        payload: format!("{tag}:payload-of-{chat}/{id}").into_bytes(),
    }
}

/// The contract's order: `(timestamp, chat, id)`, strings byte by byte.
fn sorted(mut entries: Vec<InboxEntry>) -> Vec<InboxEntry> {
    entries.sort_by(|a, b| {
        (a.timestamp, a.chat.as_bytes(), a.id.as_bytes()).cmp(&(
            b.timestamp,
            b.chat.as_bytes(),
            b.id.as_bytes(),
        ))
    });
    entries
}

async fn list<S: ProtocolStore + ?Sized>(c: &Check, s: &S, limit: usize) -> Vec<InboxEntry> {
    c.ok(s.list_inbox(limit).await, "list_inbox")
}

/// An empty inbox lists nothing; put stores every field; a put of an existing
/// `(chat, id)` replaces the whole entry (and moves it in the order); remove
/// deletes only its key; removing a missing entry, or twice, is `Ok`.
pub async fn inbox_put_replace_remove<S: ProtocolStore + ?Sized>(s: &S) {
    let c = Check("inbox::put_replace_remove");
    c.eq(
        list(&c, s, 10).await,
        vec![],
        "a fresh store has an empty inbox",
    );
    c.ok(
        s.remove_inbox("nobody@s.whatsapp.net", "M0").await,
        "remove_inbox of a missing entry",
    );
    let chat = "5511987650001@s.whatsapp.net";
    let a = entry(chat, "A", 100, "v1");
    let b = entry(chat, "B", 75, "v1");
    c.ok(s.put_inbox(&a).await, "put_inbox");
    c.eq(
        list(&c, s, 10).await,
        vec![a.clone()],
        "list_inbox returns the stored entry, every field intact",
    );
    c.ok(s.put_inbox(&b).await, "put_inbox");
    c.eq(
        list(&c, s, 10).await,
        vec![b.clone(), a.clone()],
        "entries are listed by ascending timestamp",
    );
    // Replace A with an earlier timestamp and new sender and payload.
    let a2 = entry(chat, "A", 50, "v2");
    c.ok(s.put_inbox(&a2).await, "put_inbox (replace)");
    c.eq(
        list(&c, s, 10).await,
        vec![a2.clone(), b.clone()],
        "a put of an existing (chat, id) replaces the whole entry, timestamp included",
    );
    // Replace with the same timestamp.
    let a3 = entry(chat, "A", 50, "v3");
    c.ok(s.put_inbox(&a3).await, "put_inbox (replace)");
    c.eq(
        list(&c, s, 10).await,
        vec![a3.clone(), b.clone()],
        "a put of an existing (chat, id) at the same timestamp replaces it",
    );
    c.ok(s.remove_inbox(chat, "A").await, "remove_inbox");
    c.eq(
        list(&c, s, 10).await,
        vec![b.clone()],
        "remove_inbox deletes exactly its entry",
    );
    c.ok(s.remove_inbox(chat, "A").await, "remove_inbox again");
    c.eq(
        list(&c, s, 10).await,
        vec![b.clone()],
        "a repeated remove_inbox is Ok and changes nothing",
    );
    c.ok(s.put_inbox(&a).await, "put_inbox after remove");
    c.eq(
        list(&c, s, 10).await,
        vec![b.clone(), a.clone()],
        "a removed (chat, id) can be put again",
    );
    let empty = InboxEntry {
        payload: vec![],
        sender: String::new(),
        ..entry(chat, "E", 80, "")
    };
    c.ok(s.put_inbox(&empty).await, "put_inbox of an empty payload");
    c.eq(
        list(&c, s, 10).await,
        vec![b.clone(), empty.clone(), a.clone()],
        "an empty payload and an empty sender round-trip",
    );
    for e in [&a, &b, &empty] {
        c.ok(s.remove_inbox(&e.chat, &e.id).await, "remove_inbox");
    }
    c.eq(
        list(&c, s, 10).await,
        vec![],
        "removing every entry empties the inbox",
    );
}

/// `list_inbox` orders by `(timestamp, chat, id)` ascending (negative and
/// extreme timestamps included; chats and ids byte by byte, a prefix first)
/// and returns at most `limit` entries.
pub async fn inbox_order_and_limit<S: ProtocolStore + ?Sized>(s: &S) {
    let c = Check("inbox::order_and_limit");
    let entries = vec![
        entry("b", "1", -5, "x"),
        entry("z", "z", i64::MIN, "x"),
        entry("", "", i64::MAX, "x"),
        entry("a", "2", 0, "x"),
        entry("a", "10", 0, "x"),
        entry("a", "1", 0, "x"),
        entry("a", "", 0, "x"),
        entry("a\0", "0", 0, "x"),
        entry("a\u{1}", "0", 0, "x"),
        entry("", "x", 0, "x"),
        entry("ab", "0", 0, "x"),
        entry("a", "\0", 0, "x"),
        entry("a:b", "c", 0, "x"),
        entry("a", "b:c", 0, "x"),
        entry("ção", "1", 0, "x"),
        entry("a\u{10FFFF}", "1", 0, "x"),
        // The timestamp decides before the chat and the id do.
        entry("t", "0", 256, "x"),
        entry("t", "1", 255, "x"),
        entry("t", "2", 1, "x"),
        entry("t", "3", -1, "x"),
        entry("t", "4", -256, "x"),
        entry("", "5", i64::MIN + 1, "x"),
    ];
    // Differently keyed entries: the list must hold each once.
    let want = sorted(entries.clone());
    // Written in an order unrelated to the listing order.
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|i| (i * 8) % entries.len());
    for i in order {
        c.ok(s.put_inbox(&entries[i]).await, "put_inbox");
    }
    c.eq(
        list(&c, s, usize::MAX).await,
        want.clone(),
        "list_inbox orders by (timestamp, chat, id), strings byte by byte",
    );
    c.eq(list(&c, s, 0).await, vec![], "limit 0 lists nothing");
    c.eq(
        list(&c, s, 1).await,
        want[..1].to_vec(),
        "limit 1 lists the first entry",
    );
    c.eq(
        list(&c, s, 5).await,
        want[..5].to_vec(),
        "a limit lists the first entries in order",
    );
    c.eq(
        list(&c, s, want.len()).await,
        want.clone(),
        "a limit equal to the size lists everything",
    );
    c.eq(
        list(&c, s, want.len() + 3).await,
        want.clone(),
        "a limit above the size lists everything",
    );
    // Paging: deliver the first two, remove them, list again.
    for e in &want[..2] {
        c.ok(s.remove_inbox(&e.chat, &e.id).await, "remove_inbox");
    }
    c.eq(
        list(&c, s, 2).await,
        want[2..4].to_vec(),
        "after removing the listed entries, the next ones come first",
    );
}

/// Keys are compared byte for byte: tricky strings round-trip and composite
/// `(chat, id)` keys never collide.
pub async fn inbox_keys<S: ProtocolStore + ?Sized>(s: &S) {
    let c = Check("inbox::keys");
    let mut all = Vec::new();
    for (i, chat) in TRICKY_KEYS.iter().enumerate() {
        for (j, id) in TRICKY_KEYS.iter().enumerate() {
            if (i + j) % 3 == 0 {
                let e = entry(chat, id, (i as i64) - (j as i64), "k");
                c.ok(s.put_inbox(&e).await, "put_inbox");
                all.push(e);
            }
        }
    }
    c.eq(
        list(&c, s, usize::MAX).await,
        sorted(all.clone()),
        "tricky chats and ids (empty, NUL, Unicode, prefixes) round-trip",
    );
    for e in all.drain(..) {
        c.ok(s.remove_inbox(&e.chat, &e.id).await, "remove_inbox");
    }
    c.eq(list(&c, s, usize::MAX).await, vec![], "every entry removed");

    let pairs = [("a", "b:c"), ("a:b", "c"), ("a\0b", "c"), ("a", "\0b:c")];
    for (n, (chat, id)) in pairs.iter().enumerate() {
        c.ok(
            s.put_inbox(&entry(chat, id, 7, &n.to_string())).await,
            "put_inbox",
        );
    }
    c.eq(
        list(&c, s, usize::MAX).await.len(),
        pairs.len(),
        "composite (chat, id) keys never collide",
    );
    c.ok(s.remove_inbox("a", "b:c").await, "remove_inbox");
    let left: Vec<(String, String)> = list(&c, s, usize::MAX)
        .await
        .into_iter()
        .map(|e| (e.chat, e.id))
        .collect();
    c.eq(
        left,
        vec![
            ("a".into(), "\0b:c".into()),
            ("a\0b".into(), "c".into()),
            ("a:b".into(), "c".into()),
        ],
        "removing (\"a\", \"b:c\") leaves the entries whose keys merely look alike",
    );
}

/// A 4 MiB payload round-trips.
pub async fn inbox_large_payload<S: ProtocolStore + ?Sized>(s: &S) {
    let c = Check("inbox::large_payload");
    let big = InboxEntry {
        payload: pattern(9, 4 << 20),
        ..entry("120363021033254949@g.us", "BIG", 1_700_000_000, "big")
    };
    c.ok(s.put_inbox(&big).await, "put_inbox of 4 MiB");
    let got = list(&c, s, 1).await;
    c.same(&got, &vec![big], "a 4 MiB payload round-trips");
}

/// `WriteOp::PutInbox` and `WriteOp::RemoveInbox` through [`apply_batch`],
/// alongside a session write: each has its method's meaning and later
/// operations win, as with separate calls.
pub async fn inbox_in_batches<S: Backend + ?Sized>(s: &S) {
    let c = Check("inbox::in_batches");
    let chat = "5511987650002@s.whatsapp.net";
    let addr = "5511987650002.0";
    let m1 = entry(chat, "M1", 10, "v1");
    let m2 = entry(chat, "M2", 11, "v1");
    let m1b = entry(chat, "M1", 12, "v2");
    let mut batch = WriteBatch::new();
    batch.put_session(addr, b"session-1".to_vec());
    batch.put_inbox(m1.clone());
    batch.put_inbox(m2.clone());
    batch.put_inbox(m1b.clone());
    batch.remove_inbox(chat, "M2");
    batch.remove_inbox(chat, "never-there");
    c.ok(apply_batch(s, &batch).await, "apply_batch");
    c.eq(
        list(&c, s, 10).await,
        vec![m1b.clone()],
        "a batch's inbox writes apply in order: the later put replaces, the remove deletes",
    );
    c.eq(
        c.ok(s.get_session(addr).await, "get_session").as_deref(),
        Some(&b"session-1"[..]),
        "the session write of the batch landed with the inbox writes",
    );
    let mut batch = WriteBatch::new();
    batch.put_session(addr, b"session-2".to_vec());
    batch.remove_inbox(chat, "M1");
    batch.put_inbox(m2.clone());
    c.ok(apply_batch(s, &batch).await, "apply_batch");
    c.eq(
        list(&c, s, 10).await,
        vec![m2.clone()],
        "a batch removes and puts inbox entries",
    );
    c.eq(
        c.ok(s.get_session(addr).await, "get_session").as_deref(),
        Some(&b"session-2"[..]),
        "the session write of the second batch landed",
    );
}

/// An entry put through one device id's handle is invisible to another's:
/// neither listed nor removable there, and the same `(chat, id)` can hold a
/// different entry per device id.
pub async fn inbox_isolation_between_device_ids<S: Backend + ?Sized>(a: &S, b: &S) {
    let c = Check("inbox::isolation_between_device_ids");
    let chat = "5511987650003@s.whatsapp.net";
    let mine = entry(chat, "M", 5, "a");
    c.ok(a.put_inbox(&mine).await, "put_inbox");
    c.eq(
        list(&c, b, 10).await,
        vec![],
        "an inbox entry of one device id is invisible to another device id",
    );
    c.ok(
        b.remove_inbox(chat, "M").await,
        "remove_inbox (other device)",
    );
    c.eq(
        list(&c, a, 10).await,
        vec![mine.clone()],
        "remove_inbox through another device id leaves the entry",
    );
    let theirs = entry(chat, "M", 1, "b");
    c.ok(b.put_inbox(&theirs).await, "put_inbox (other device)");
    c.eq(
        list(&c, a, 10).await,
        vec![mine.clone()],
        "the same (chat, id) under another device id does not replace this one",
    );
    c.eq(
        list(&c, b, 10).await,
        vec![theirs.clone()],
        "each device id lists its own entry",
    );
    let mut batch = WriteBatch::new();
    batch.remove_inbox(chat, "M");
    c.ok(apply_batch(b, &batch).await, "apply_batch (other device)");
    c.eq(
        list(&c, a, 10).await,
        vec![mine],
        "a batch removal through another device id leaves the entry",
    );
    c.eq(
        list(&c, b, 10).await,
        vec![],
        "the batch removal took the other device id's entry",
    );
}
