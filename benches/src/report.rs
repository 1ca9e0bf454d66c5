//! Criterion medians → the markdown ratio table of `RESULTS.md`.
//!
//! Criterion writes, per benchmark, `<criterion dir>/<group>/<function>/new/benchmark.json`
//! (ids and throughput) and `estimates.json` (the median point estimate, in ns per
//! iteration). [`load`] reads every such pair; [`render`] turns them into one table row per
//! [`Row`]: ours, the fastest listed peer, the ratio and whether it meets the budget.
//!
//! Every ratio is "how many times faster we are": peer time per operation ÷ our time per
//! operation. For a throughput budget (ops/s) that is ours ÷ peer's ops/s; for a latency
//! budget it is the peer's latency ÷ ours — the same number either way.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{fs, io};

/// One benchmark's median.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Median time of one iteration, in nanoseconds.
    pub median_ns: f64,
    /// Operations per iteration (criterion `Throughput::Elements`), 1 when not set.
    pub elements: u64,
}

impl Estimate {
    /// Median time of one operation, in nanoseconds.
    pub fn per_op_ns(&self) -> f64 {
        self.median_ns / self.elements.max(1) as f64
    }
}

/// A benchmark's id: (group id, function id).
pub type BenchId = (String, String);

/// Medians by benchmark id.
pub type Estimates = BTreeMap<BenchId, Estimate>;

/// A row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// What the row measures.
    pub label: &'static str,
    /// The criterion group id.
    pub group: &'static str,
    /// Our function id in that group.
    pub ours: &'static str,
    /// The peers' function ids; the fastest one present is the comparison.
    pub peers: &'static [&'static str],
    /// The minimum ratio (peer time ÷ our time), if docs/performance.md sets one.
    pub budget: Option<f64>,
}

const fn row(
    label: &'static str,
    group: &'static str,
    ours: &'static str,
    peers: &'static [&'static str],
    budget: Option<f64>,
) -> Row {
    Row {
        label,
        group,
        ours,
        peers,
        budget,
    }
}

/// The codec table (`--bench codec`): encode and decode of the four docs/performance.md nodes,
/// ours against wacore-binary 0.7. Budgets apply to the message and fan-out nodes.
#[rustfmt::skip]
pub const CODEC_ROWS: &[Row] = &[
    row("encode message → new Vec (vs fastest of wacore marshal, marshal_auto)", "codec_encode_message", "wa", &["wacore_marshal", "wacore_marshal_auto"], Some(1.25)),
    row("encode message → reused Vec", "codec_encode_reuse_message", "wa", &["wacore"], Some(1.25)),
    row("decode message → owned node", "codec_decode_message", "wa", &["wacore_owned"], Some(1.25)),
    row("decode message: ours owned vs wacore borrowed (reference)", "codec_decode_message", "wa", &["wacore_borrowed"], None),
    row("encode fan-out → new Vec (vs fastest of wacore marshal, marshal_auto)", "codec_encode_fanout", "wa", &["wacore_marshal", "wacore_marshal_auto"], Some(1.25)),
    row("encode fan-out → reused Vec", "codec_encode_reuse_fanout", "wa", &["wacore"], Some(1.25)),
    row("decode fan-out → owned node", "codec_decode_fanout", "wa", &["wacore_owned"], Some(1.25)),
    row("decode fan-out: ours owned vs wacore borrowed (reference)", "codec_decode_fanout", "wa", &["wacore_borrowed"], None),
    row("encode keepalive → new Vec", "codec_encode_keepalive", "wa", &["wacore_marshal", "wacore_marshal_auto"], None),
    row("decode keepalive → owned node", "codec_decode_keepalive", "wa", &["wacore_owned"], None),
    row("encode success → new Vec", "codec_encode_success", "wa", &["wacore_marshal", "wacore_marshal_auto"], None),
    row("decode success → owned node", "codec_decode_success", "wa", &["wacore_owned"], None),
];

/// The store table (`--bench store`): RedbStore (durable) against
/// whatsapp-rust-sqlite-storage 0.7 (synchronous=NORMAL, its default, unless the row says
/// FULL) and a plain rusqlite store (WAL, synchronous=FULL). `redb_nosync` rows are
/// diagnostics (ours with `Durability::None`), never judged.
#[rustfmt::skip]
pub const STORE_ROWS: &[Row] = &[
    row("get_session (1–4 KiB), ops/s", "store_get_session", "redb", &["sqlite_peer"], Some(10.0)),
    row("get_session vs rusqlite FULL (reference)", "store_get_session", "redb", &["rusqlite_full"], None),
    row("load_prekey (random id), ops/s", "store_load_prekey", "redb", &["sqlite_peer"], Some(10.0)),
    row("load_prekey vs rusqlite FULL (reference)", "store_load_prekey", "redb", &["rusqlite_full"], None),
    row("load_identity, ops/s", "store_load_identity", "redb", &["sqlite_peer"], Some(10.0)),
    row("load_identity vs rusqlite FULL (reference)", "store_load_identity", "redb", &["rusqlite_full"], None),
    row("store_prekeys_batch 812, latency", "store_prekeys_batch_812", "redb", &["sqlite_peer"], Some(3.0)),
    row("store_prekeys_batch 812 vs rusqlite FULL (reference)", "store_prekeys_batch_812", "redb", &["rusqlite_full"], None),
    row("store_prekeys_batch 812, ours without fsync (diagnostic)", "store_prekeys_batch_812", "redb_nosync", &["sqlite_peer"], None),
    row("put_mutation_macs 500, latency", "store_put_mutation_macs_500", "redb", &["sqlite_peer"], Some(3.0)),
    row("put_mutation_macs 500 vs rusqlite FULL (reference)", "store_put_mutation_macs_500", "redb", &["rusqlite_full"], None),
    row("put_mutation_macs 500, ours without fsync (diagnostic)", "store_put_mutation_macs_500", "redb_nosync", &["sqlite_peer"], None),
    row("put_session, 1 writer, durable, vs rusqlite FULL", "store_put_session_1_writer", "redb", &["rusqlite_full"], Some(1.0)),
    row("put_session, 1 writer, durable, vs SQLite peer set to FULL", "store_put_session_1_writer", "redb", &["sqlite_peer_full"], Some(1.0)),
    row("put_session, 1 writer, vs SQLite peer at NORMAL (reference)", "store_put_session_1_writer", "redb", &["sqlite_peer"], None),
    row("put_session, 1 writer, ours without fsync vs peer at NORMAL (diagnostic)", "store_put_session_1_writer", "redb_nosync", &["sqlite_peer"], None),
    row("disk limit: 4 KiB write + fdatasync vs ours, 1 writer (reference)", "store_put_session_1_writer", "redb", &["disk_4k_fdatasync"], None),
    row("put_session, 16 writers, vs SQLite peer at NORMAL", "store_put_session_16_writers", "redb", &["sqlite_peer"], Some(3.0)),
    row("put_session, 16 writers, vs rusqlite FULL (reference)", "store_put_session_16_writers", "redb", &["rusqlite_full"], None),
    row("put_session, 16 writers, ours without fsync vs peer at NORMAL (diagnostic)", "store_put_session_16_writers", "redb_nosync", &["sqlite_peer"], None),
];

/// Why the criterion output could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A file is not what criterion writes.
    #[error("unexpected content in {path}: {what}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
}

fn read_json(path: &Path) -> Result<serde_json::Value, ReportError> {
    let text = fs::read_to_string(path).map_err(|source| ReportError::Io {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| ReportError::Format {
        path: path.to_owned(),
        what: e.to_string(),
    })
}

/// Reads every `*/new/benchmark.json` + `estimates.json` pair under `dir` (criterion's
/// output directory, `$CARGO_TARGET_DIR/criterion`).
pub fn load(dir: &Path) -> Result<Estimates, ReportError> {
    let mut out = Estimates::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries = fs::read_dir(&d).map_err(|source| ReportError::Io {
            path: d.clone(),
            source,
        })?;
        for entry in entries {
            let path = entry
                .map_err(|source| ReportError::Io {
                    path: d.clone(),
                    source,
                })?
                .path();
            if path.is_dir() {
                // `base` and `change` hold earlier runs; only `new` is this run.
                if path.file_name().is_some_and(|n| n == "new") {
                    if let Some((key, estimate)) = load_one(&path)? {
                        out.insert(key, estimate);
                    }
                } else if !path
                    .file_name()
                    .is_some_and(|n| n == "base" || n == "report")
                {
                    stack.push(path);
                }
            }
        }
    }
    Ok(out)
}

fn load_one(new_dir: &Path) -> Result<Option<(BenchId, Estimate)>, ReportError> {
    let bench_path = new_dir.join("benchmark.json");
    let est_path = new_dir.join("estimates.json");
    if !bench_path.exists() || !est_path.exists() {
        return Ok(None);
    }
    let bench = read_json(&bench_path)?;
    let est = read_json(&est_path)?;
    let format = |what: &str, path: &Path| ReportError::Format {
        path: path.to_owned(),
        what: what.to_owned(),
    };
    let group = bench["group_id"]
        .as_str()
        .ok_or_else(|| format("no group_id", &bench_path))?;
    let function = bench["function_id"]
        .as_str()
        .ok_or_else(|| format("no function_id", &bench_path))?;
    let elements = match &bench["throughput"] {
        serde_json::Value::Null => 1,
        t => t["Elements"]
            .as_u64()
            .ok_or_else(|| format("throughput is not Elements", &bench_path))?,
    };
    let median_ns = est["median"]["point_estimate"]
        .as_f64()
        .ok_or_else(|| format("no median.point_estimate", &est_path))?;
    Ok(Some((
        (group.to_owned(), function.to_owned()),
        Estimate {
            median_ns,
            elements,
        },
    )))
}

/// A duration in ns, in the unit that keeps 3–4 significant digits.
pub fn fmt_ns(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.1} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// Operations per second, with a k/M suffix.
pub fn fmt_ops(per_op_ns: f64) -> String {
    let ops = 1e9 / per_op_ns;
    if ops >= 1e6 {
        format!("{:.2}M/s", ops / 1e6)
    } else if ops >= 1e3 {
        format!("{:.1}k/s", ops / 1e3)
    } else {
        format!("{ops:.0}/s")
    }
}

fn cell(e: &Estimate, function: &str) -> String {
    let per_op = e.per_op_ns();
    if e.elements > 1 {
        format!(
            "{function}: {} per op ({}; {} ops per iteration)",
            fmt_ns(per_op),
            fmt_ops(per_op),
            e.elements
        )
    } else {
        format!("{function}: {} ({})", fmt_ns(per_op), fmt_ops(per_op))
    }
}

/// The markdown table for `rows`. A row whose benchmarks were not run says so.
pub fn render(rows: &[Row], estimates: &Estimates) -> String {
    let mut out = String::from(
        "| workload | ours (median) | peer (median) | ratio | budget | result |\n|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let get = |f: &str| estimates.get(&(r.group.to_owned(), f.to_owned()));
        let ours = get(r.ours);
        let peer = r
            .peers
            .iter()
            .filter_map(|p| get(p).map(|e| (*p, e)))
            .min_by(|a, b| a.1.per_op_ns().total_cmp(&b.1.per_op_ns()));
        let budget = r.budget.map_or("—".to_owned(), |b| format!("≥ {b}×"));
        let (ours_cell, peer_cell, ratio, result) = match (ours, peer) {
            (Some(o), Some((name, p))) => {
                let ratio = p.per_op_ns() / o.per_op_ns();
                let result = match r.budget {
                    Some(b) if ratio >= b => "pass",
                    Some(_) => "**miss**",
                    None => "reference",
                };
                (
                    cell(o, r.ours),
                    cell(p, name),
                    // Truncated, not rounded, so a miss never shows the budget's figure.
                    format!("{:.2}×", (ratio * 100.0).floor() / 100.0),
                    result,
                )
            }
            _ => (
                ours.map_or("not run".to_owned(), |o| cell(o, r.ours)),
                peer.map_or("not run".to_owned(), |(n, p)| cell(p, n)),
                "—".to_owned(),
                "not run",
            ),
        };
        let _ = writeln!(
            out,
            "| {} | {ours_cell} | {peer_cell} | {ratio} | {budget} | {result} |",
            r.label
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_bench(dir: &Path, group: &str, function: &str, median: f64, elements: Option<u64>) {
        let new = dir.join(group).join(function).join("new");
        fs::create_dir_all(&new).unwrap();
        let throughput = match elements {
            Some(n) => serde_json::json!({ "Elements": n }),
            None => serde_json::Value::Null,
        };
        let bench = serde_json::json!({
            "group_id": group, "function_id": function, "value_str": null,
            "throughput": throughput, "full_id": format!("{group}/{function}"),
        });
        fs::write(new.join("benchmark.json"), bench.to_string()).unwrap();
        let est = serde_json::json!({
            "mean": { "point_estimate": median * 2.0 },
            "median": { "point_estimate": median },
        });
        fs::write(new.join("estimates.json"), est.to_string()).unwrap();
        // An older run in `base` must be ignored.
        let base = dir.join(group).join(function).join("base");
        fs::create_dir_all(&base).unwrap();
        fs::write(
            base.join("estimates.json"),
            serde_json::json!({"median": {"point_estimate": 1.0}}).to_string(),
        )
        .unwrap();
    }

    #[test]
    fn loads_medians_and_throughput() {
        let dir = tempfile::tempdir().unwrap();
        write_bench(dir.path(), "g", "wa", 100.0, None);
        write_bench(dir.path(), "g", "peer", 250.0, Some(5));
        let e = load(dir.path()).unwrap();
        assert_eq!(e.len(), 2);
        let wa = e[&("g".to_owned(), "wa".to_owned())];
        assert_eq!((wa.median_ns, wa.elements), (100.0, 1));
        let peer = e[&("g".to_owned(), "peer".to_owned())];
        assert_eq!(peer.per_op_ns(), 50.0);
    }

    #[test]
    fn ratio_uses_the_fastest_peer_and_judges_the_budget() {
        let mut e = Estimates::new();
        let mut put = |f: &str, ns: f64| {
            e.insert(
                ("g".to_owned(), f.to_owned()),
                Estimate {
                    median_ns: ns,
                    elements: 1,
                },
            );
        };
        put("wa", 100.0);
        put("slow", 400.0);
        put("fast", 120.0);
        put("close", 124.9);
        let rows = [
            row("vs fastest", "g", "wa", &["slow", "fast"], Some(1.25)),
            row("vs slow", "g", "wa", &["slow"], Some(3.0)),
            row("reference", "g", "wa", &["slow"], None),
            row("missing", "g", "wa", &["absent"], Some(1.0)),
            row("just below", "g", "wa", &["close"], Some(1.25)),
        ];
        let table = render(&rows, &e);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2 + rows.len(), "{table}");
        assert!(lines[2].contains("fast: 120.0 ns"), "{}", lines[2]);
        assert!(lines[2].contains("| 1.20× |") && lines[2].ends_with("| **miss** |"));
        assert!(lines[3].contains("| 4.00× |") && lines[3].ends_with("| pass |"));
        assert!(lines[4].ends_with("| — | reference |"));
        assert!(lines[5].ends_with("| not run |"));
        // 1.249× is shown as 1.24×, never as the budget it misses.
        assert!(lines[6].contains("| 1.24× |") && lines[6].ends_with("| **miss** |"));
    }

    #[test]
    fn per_op_cells_show_ops_per_second() {
        let e = Estimate {
            median_ns: 1_600_000.0,
            elements: 16,
        };
        assert_eq!(e.per_op_ns(), 100_000.0);
        assert_eq!(fmt_ops(e.per_op_ns()), "10.0k/s");
        assert_eq!(fmt_ns(1_500.0), "1.50 µs");
        assert!(cell(&e, "redb").contains("16 ops per iteration"));
    }

    #[test]
    fn a_malformed_estimate_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write_bench(dir.path(), "g", "wa", 1.0, None);
        let est = dir.path().join("g/wa/new/estimates.json");
        fs::write(&est, "{\"median\": {}}").unwrap();
        assert!(matches!(load(dir.path()), Err(ReportError::Format { .. })));
    }
}
