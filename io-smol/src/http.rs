//! The HTTP client for smol programs (in progress).
