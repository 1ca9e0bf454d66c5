//! Store contracts (in progress).
