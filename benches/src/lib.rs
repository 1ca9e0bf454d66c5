//! Shared helpers for the wa benchmarks (see `benches/RESULTS.md`).
