//! Placeholder; replaced by the custom backend + transport example.
fn main() {}
