//! Cache abstraction (in progress).
