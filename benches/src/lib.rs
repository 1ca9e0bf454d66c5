//! Shared pieces of the wa benchmarks (results and how to run them: `benches/RESULTS.md`).
//!
//! - [`nodes`]: the stanzas of docs/performance.md described once, in a library-neutral
//!   [`nodes::Spec`] tree, so that ours and the peer's encoder are handed the very same
//!   node, and decoded nodes of either library can be checked against the original.
//! - [`report`]: reads criterion's `estimates.json` medians and renders the markdown ratio
//!   table that goes into `RESULTS.md` (the `report` binary is a thin shell over it).
//! - [`durable`]: the budget rows, medians, I/O counters and `strace` parsing of the
//!   `store_durable` target (interleaved durable writes, the source of truth for them).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod durable;
pub mod nodes;
pub mod report;
