//! The pieces of the `store_durable` bench target that are plain logic, kept here so
//! `cargo test -p wa-benches` checks them: the budget rows of docs/performance.md for
//! durable writes and their verdict, medians, the process's I/O counters
//! (`/proc/self/io`) and the parser of an `strace` log for the syscall report.

use std::fmt::Write as _;

/// One durable-write budget: ours (`redb`) against `peer` on `workload`, judged by the
/// ratio peer time ÷ our time (≥ `budget` passes).
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// What the row says.
    pub label: &'static str,
    /// The interleaved workload it reads.
    pub workload: &'static str,
    /// The engine it compares with.
    pub peer: &'static str,
    /// The smallest passing ratio.
    pub budget: f64,
}

/// The budget rows of issue 15 / docs/performance.md for durable writes, in the order
/// the report prints them.
pub const BUDGETS: &[Budget] = &[
    Budget {
        label: "prekey batch 812, durable, vs the peer at FULL",
        workload: "prekeys_batch",
        peer: "sqlite_peer_full",
        budget: 2.0,
    },
    Budget {
        label: "prekey batch 812, durable, vs the peer at NORMAL",
        workload: "prekeys_batch",
        peer: "sqlite_peer",
        budget: 1.0,
    },
    Budget {
        label: "MAC batch 500, durable, vs the peer at FULL",
        workload: "macs_batch",
        peer: "sqlite_peer_full",
        budget: 2.0,
    },
    Budget {
        label: "MAC batch 500, durable, vs the peer at NORMAL",
        workload: "macs_batch",
        peer: "sqlite_peer",
        budget: 1.0,
    },
    Budget {
        label: "put_session, 1 writer, durable, vs the peer at FULL",
        workload: "put_session",
        peer: "sqlite_peer_full",
        budget: 1.0,
    },
    Budget {
        label: "put_session, 16 writers, durable, vs the peer at NORMAL",
        workload: "put_session_16",
        peer: "sqlite_peer",
        budget: 1.0,
    },
    Budget {
        label: "one incoming message's batch, 1 caller, durable, vs the peer at NORMAL",
        workload: "message_batch",
        peer: "sqlite_peer",
        budget: 1.0,
    },
    Budget {
        label: "one incoming message's batch, 16 callers, durable, vs the peer at NORMAL",
        workload: "message_batch_16",
        peer: "sqlite_peer",
        budget: 1.0,
    },
];

/// `"pass"` when `ratio` ≥ `budget`, else `"**miss**"`.
pub fn verdict(ratio: f64, budget: f64) -> &'static str {
    if ratio >= budget { "pass" } else { "**miss**" }
}

/// A ratio truncated (not rounded) to two decimals, so a miss never shows the budget's
/// own figure.
pub fn fmt_ratio(ratio: f64) -> String {
    format!("{:.2}×", (ratio * 100.0).floor() / 100.0)
}

/// The median of `v` (the upper one for an even count); `None` when `v` is empty.
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// The process's write counters: bytes passed to write-family syscalls (`wchar`) and
/// the number of those calls (`syscw`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoCounters {
    /// Bytes written through `write`/`pwrite`/… by the whole process.
    pub bytes: u64,
    /// Write-family syscalls made by the whole process.
    pub calls: u64,
}

impl IoCounters {
    /// Reads `/proc/self/io`; `None` where the kernel does not provide it.
    pub fn now() -> Option<IoCounters> {
        parse_proc_io(&std::fs::read_to_string("/proc/self/io").ok()?)
    }

    /// The counters from `earlier` to `self`.
    pub fn since(self, earlier: IoCounters) -> IoCounters {
        IoCounters {
            bytes: self.bytes.saturating_sub(earlier.bytes),
            calls: self.calls.saturating_sub(earlier.calls),
        }
    }
}

/// Parses the text of `/proc/<pid>/io`.
pub fn parse_proc_io(text: &str) -> Option<IoCounters> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some(IoCounters {
        bytes: field("wchar")?,
        calls: field("syscw")?,
    })
}

/// What an `strace -f` log holds between the `probe: start` and `probe: end` markers the
/// probe writes to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Syscalls {
    /// `fsync` + `fdatasync` calls.
    pub syncs: u64,
    /// Write-family calls (`write`, `pwrite64`, `writev`, `pwritev`, `pwritev2`).
    pub writes: u64,
    /// Bytes those calls returned as written.
    pub bytes: u64,
}

/// Parses an `strace -f -o FILE -e trace=fsync,fdatasync,write,pwrite64,…` log: counts
/// the calls that completed between the markers (a call split over an `<unfinished ...>`
/// line and its `resumed>` line counts once, on the line with its result). `None` when
/// the markers are missing.
pub fn parse_strace(log: &str) -> Option<Syscalls> {
    let mut counting = false;
    let mut seen_end = false;
    let mut out = Syscalls::default();
    for line in log.lines() {
        if line.contains("probe: start") {
            counting = true;
            continue;
        }
        if line.contains("probe: end") {
            seen_end = counting;
            break;
        }
        if !counting || line.contains("<unfinished ...>") {
            continue;
        }
        // "PID name(args) = ret" or "PID <... name resumed>...) = ret".
        let rest = line.trim_start_matches(|c: char| c.is_ascii_digit() || c == ' ');
        let name = match rest.strip_prefix("<... ") {
            Some(r) => r.split(' ').next().unwrap_or(""),
            None => rest.split('(').next().unwrap_or(""),
        };
        let ret = line
            .rsplit_once(" = ")
            .and_then(|(_, r)| r.split_whitespace().next())
            .and_then(|r| r.parse::<i64>().ok());
        match name {
            "fsync" | "fdatasync" => out.syncs += 1,
            "write" | "pwrite64" | "writev" | "pwritev" | "pwritev2" => {
                out.writes += 1;
                out.bytes += ret.filter(|r| *r > 0).unwrap_or(0) as u64;
            }
            _ => {}
        }
    }
    seen_end.then_some(out)
}

/// One line of a markdown table from its cells.
pub fn table_row(cells: &[String]) -> String {
    let mut s = String::from("|");
    for c in cells {
        let _ = write!(s, " {c} |");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_and_ratios() {
        assert_eq!(verdict(1.0, 1.0), "pass");
        assert_eq!(verdict(0.999, 1.0), "**miss**");
        assert_eq!(verdict(2.5, 2.0), "pass");
        // Truncated: 0.999 must not print as 1.00.
        assert_eq!(fmt_ratio(0.999), "0.99×");
        assert_eq!(fmt_ratio(2.0), "2.00×");
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(3.0));
        assert_eq!(median(Vec::new()), None);
        // Every budget row names a workload the target runs and a peer engine.
        for b in BUDGETS {
            assert!(b.budget >= 1.0, "{}", b.label);
            assert!(b.peer.starts_with("sqlite_peer"), "{}", b.label);
        }
    }

    #[test]
    fn proc_io() {
        let text = "rchar: 6976\nwchar: 1234\nsyscr: 10\nsyscw: 7\nread_bytes: 0\n\
                    write_bytes: 4096\ncancelled_write_bytes: 0\n";
        let c = parse_proc_io(text).unwrap();
        assert_eq!(
            c,
            IoCounters {
                bytes: 1234,
                calls: 7
            }
        );
        assert_eq!(
            c.since(IoCounters {
                bytes: 1000,
                calls: 2
            }),
            IoCounters {
                bytes: 234,
                calls: 5
            }
        );
        assert_eq!(parse_proc_io("rchar: 1\n"), None);
        // The real file, where there is one, parses.
        if std::path::Path::new("/proc/self/io").exists() {
            assert!(IoCounters::now().is_some());
        }
    }

    #[test]
    fn strace_log() {
        let log = r#"100 write(1, "setup", 5) = 5
100 fsync(3) = 0
100 write(2, "probe: start redb put_session 2\n", 31) = 31
101 pwrite64(7, "\0\0"..., 4096, 8192) = 4096
101 pwrite64(7, "\1\1"..., 320, 0 <unfinished ...>
100 futex(0x1, FUTEX_WAIT) = 0
101 <... pwrite64 resumed>) = 320
101 fdatasync(7) = 0
102 write(9, "wal", 3) = 3
102 fsync(9 <unfinished ...>
102 <... fsync resumed>) = 0
100 write(2, "probe: end after 1ms\n", 21) = 21
101 fsync(7) = 0
"#;
        assert_eq!(
            parse_strace(log),
            Some(Syscalls {
                syncs: 2,
                writes: 3,
                bytes: 4096 + 320 + 3
            })
        );
        assert_eq!(parse_strace("100 fsync(3) = 0\n"), None);
        // A start without an end is no result either (the probe died).
        assert_eq!(
            parse_strace("1 write(2, \"probe: start\", 12) = 12\n1 fsync(3) = 0\n"),
            None
        );
    }
}
