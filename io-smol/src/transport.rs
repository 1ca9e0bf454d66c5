//! The WebSocket + TLS transport (in progress).
