//! Prints the RESULTS.md ratio tables from criterion's output.
//!
//! ```text
//! cargo run -p wa-benches --bin report [-- CRITERION_DIR]
//! ```
//!
//! `CRITERION_DIR` defaults to `$CARGO_TARGET_DIR/criterion`, else `target/criterion`.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use wa_benches::report::{CODEC_ROWS, STORE_ROWS, load, render};

fn main() -> ExitCode {
    let dir = std::env::args_os().nth(1).map_or_else(
        || {
            std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| PathBuf::from("target"), PathBuf::from)
                .join("criterion")
        },
        PathBuf::from,
    );
    let estimates = match load(&dir) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("report: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("### Codec (`--bench codec`)\n");
    println!("{}", render(CODEC_ROWS, &estimates));
    println!("### Store (`--bench store`)\n");
    println!("{}", render(STORE_ROWS, &estimates));
    ExitCode::SUCCESS
}
