//! `wa-store`: inspect a wa-store-redb file offline.
//!
//! ```text
//! wa-store stats FILE                       rows per table and per device, file size
//! wa-store check FILE                       decode every record; exit 1 if any is corrupt
//! wa-store export FILE [--include-secrets]  every record as JSON lines, secrets redacted
//! wa-store compact FILE                     reclaim free space
//! wa-store import-whatsapp-rust SQLITE_FILE REDB_FILE
//!                                           move a whatsapp-rust SQLite store into a new file
//! ```
//!
//! `import-whatsapp-rust` exists when the crate is built with the
//! `import-whatsapp-rust` feature; without it the command says how to enable it.
//!
//! `stats`, `check` and `export` open the file read-only and write nothing
//! (no recovery, no schema upgrade); they work beside a running client that
//! opened the file with `RedbOptions::shared_readers`, and otherwise say the
//! file is in use. `compact` writes and needs the file to itself.
//!
//! Exit codes: 0 success, 1 `check` found corruption, 2 usage or other error
//! (the file in use included).
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use wa_core::store::StoreError;
use wa_store_redb::{FileInUse, ReadOnlyStore, RedbStore};

const USAGE: &str = "usage:
  wa-store stats FILE                       rows per table and per device, file size
  wa-store check FILE                       decode every record; exit 1 if any is corrupt
  wa-store export FILE [--include-secrets]  every record as JSON lines, secrets redacted
  wa-store compact FILE                     reclaim free space
  wa-store import-whatsapp-rust SQLITE_FILE REDB_FILE
                                            copy a whatsapp-rust-sqlite-storage file into a
                                            new redb file in one atomic write (needs the
                                            import-whatsapp-rust feature)

stats, check and export only read: they never change the file, and work
while a client has it open if the client enabled RedbOptions::shared_readers.
compact writes: it needs the file closed everywhere.";

enum Command {
    Stats(PathBuf),
    Check(PathBuf),
    Export(PathBuf, bool),
    Compact(PathBuf),
    Import(PathBuf, PathBuf),
}

impl Command {
    /// What to say when the file is held elsewhere.
    fn in_use_hint(&self) -> &'static str {
        match self {
            Command::Compact(_) => {
                "compact writes, so it needs the file to itself: stop the client \
                 (and any wa-store still reading the file), then retry"
            }
            Command::Import(..) => {
                "import writes the redb file, so it needs it to itself: \
                 stop whatever has it open, then retry"
            }
            _ => {
                "stats, check and export read beside a running client only if it opened \
                 the file with RedbOptions::shared_readers; stop the client or enable that \
                 option, then retry"
            }
        }
    }
}

fn parse(args: &[String]) -> Result<Command, String> {
    let (cmd, rest) = args.split_first().ok_or("no command given")?;
    if cmd == "import-whatsapp-rust" {
        return match rest {
            [a, b] if !a.starts_with("--") && !b.starts_with("--") => {
                Ok(Command::Import(PathBuf::from(a), PathBuf::from(b)))
            }
            _ => Err("import-whatsapp-rust takes SQLITE_FILE REDB_FILE".into()),
        };
    }
    let mut file = None;
    let mut include_secrets = false;
    for arg in rest {
        match arg.as_str() {
            "--include-secrets" if cmd == "export" => include_secrets = true,
            a if a.starts_with("--") => return Err(format!("unknown option {a}")),
            a if file.is_none() => file = Some(PathBuf::from(a)),
            a => return Err(format!("unexpected argument {a}")),
        }
    }
    let file = file.ok_or("no FILE given")?;
    Ok(match cmd.as_str() {
        "stats" => Command::Stats(file),
        "check" => Command::Check(file),
        "export" => Command::Export(file, include_secrets),
        "compact" => Command::Compact(file),
        other => return Err(format!("unknown command {other}")),
    })
}

/// Opens `path` read-only: nothing is written, not even a recovery or a
/// schema upgrade.
fn open(path: &Path) -> Result<ReadOnlyStore, StoreError> {
    if !path.is_file() {
        return Err(StoreError::InvalidInput(format!(
            "{} is not a file",
            path.display()
        )));
    }
    ReadOnlyStore::open(path)
}

/// The error and its causes on one line.
fn describe(e: &StoreError) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

fn stats(path: &Path) -> Result<ExitCode, StoreError> {
    let stats = open(path)?.stats()?;
    let size = stats.file_size.unwrap_or_default();
    let mut out = std::io::stdout().lock();
    writeln!(out, "file: {}", path.display())?;
    writeln!(out, "size: {size} bytes")?;
    if stats.schema_version < wa_store_redb::SCHEMA_VERSION {
        writeln!(
            out,
            "schema version: {} (a client upgrades it to {} when it opens the file)",
            stats.schema_version,
            wa_store_redb::SCHEMA_VERSION
        )?;
    } else {
        writeln!(out, "schema version: {}", stats.schema_version)?;
    }
    writeln!(out, "{:<24} {:>10}  rows per device", "table", "rows")?;
    let mut total = 0;
    for t in &stats.tables {
        total += t.rows;
        let per: Vec<String> = t
            .per_device
            .iter()
            .map(|(d, n)| format!("{d}:{n}"))
            .collect();
        writeln!(out, "{:<24} {:>10}  {}", t.table, t.rows, per.join(" "))?;
    }
    writeln!(out, "{:<24} {:>10}", "total", total)?;
    Ok(ExitCode::SUCCESS)
}

fn check(path: &Path) -> Result<ExitCode, StoreError> {
    let store = match open(path) {
        Ok(s) => s,
        Err(e @ StoreError::Corrupt { .. }) => {
            println!("corrupt: {}", describe(&e));
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e),
    };
    let report = match store.check() {
        Ok(r) => r,
        Err(e @ StoreError::Corrupt { .. }) => {
            println!("corrupt: {}", describe(&e));
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e),
    };
    for p in &report.problems {
        println!("corrupt: table {} key {}: {}", p.table, p.key, p.detail);
    }
    println!(
        "{} records checked, {} corrupt",
        report.records,
        report.problems.len()
    );
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn export(path: &Path, include_secrets: bool) -> Result<ExitCode, StoreError> {
    let store = open(path)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    store.export(&mut out, include_secrets)?;
    Ok(ExitCode::SUCCESS)
}

fn compact(path: &Path) -> Result<ExitCode, StoreError> {
    if !path.is_file() {
        return Err(StoreError::InvalidInput(format!(
            "{} is not a file",
            path.display()
        )));
    }
    let r = RedbStore::compact(path)?;
    println!(
        "compacted {}: {} -> {} bytes",
        path.display(),
        r.size_before,
        r.size_after
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(feature = "import-whatsapp-rust")]
fn import(sqlite: &Path, redb: &Path) -> Result<ExitCode, StoreError> {
    let report = wa_store_redb::import_whatsapp_rust(sqlite, redb)?;
    println!(
        "imported {} into {}\n{report}",
        sqlite.display(),
        redb.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "import-whatsapp-rust"))]
fn import(_sqlite: &Path, _redb: &Path) -> Result<ExitCode, StoreError> {
    Err(StoreError::InvalidInput(
        "this wa-store was built without SQLite support; rebuild it with \
         `cargo install wa-store-redb --features import-whatsapp-rust` \
         (or `cargo run -p wa-store-redb --features import-whatsapp-rust --bin wa-store -- ...`)"
            .into(),
    ))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let command = match parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wa-store: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match &command {
        Command::Stats(p) => stats(p),
        Command::Check(p) => check(p),
        Command::Export(p, secrets) => export(p, *secrets),
        Command::Compact(p) => compact(p),
        Command::Import(from, to) => import(from, to),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            match FileInUse::of(&e) {
                Some(in_use) => {
                    let engine = std::error::Error::source(in_use)
                        .map(|cause| format!("\n  (redb: {cause})"))
                        .unwrap_or_default();
                    eprintln!(
                        "wa-store: the file is in use by another process (a running client?)\n  \
                         {}{engine}",
                        command.in_use_hint()
                    );
                }
                None => eprintln!("wa-store: {}", describe(&e)),
            }
            ExitCode::from(2)
        }
    }
}
