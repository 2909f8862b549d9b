//! Fingerprints the sources that both halves of Livechart are built from (this crate, the
//! browser's entry, the lock file), as `LIVECHART_SOURCE_STAMP`. The server is built with it
//! natively and the WASM with it for the browser: a server that embeds (or finds on disk) a
//! WASM whose stamp differs from its own knows that the page would not hydrate, and says so.

use std::fs;
use std::path::{Path, PathBuf};

/// The sources that decide what the page's HTML and the WASM are, relative to this crate.
const INPUTS: [&str; 6] = [
    "src",
    "Cargo.toml",
    "../frontend/src",
    "../frontend/Cargo.toml",
    "../Cargo.toml",
    "../Cargo.lock",
];

fn main() {
    let mut files = Vec::new();
    for input in INPUTS {
        println!("cargo:rerun-if-changed={input}");
        collect(Path::new(input), &mut files);
    }
    files.sort();
    // FNV-1a over each file's path and bytes: the same on every toolchain and machine (std's
    // hasher may change between Rust versions, and the WASM is built with nightly).
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for path in &files {
        let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for byte in path.to_string_lossy().bytes().chain([0]).chain(bytes) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    println!("cargo:rustc-env=LIVECHART_SOURCE_STAMP={hash:016x}");
}

/// Every file under `path` (or `path` itself), in no particular order.
fn collect(path: &Path, files: &mut Vec<PathBuf>) {
    match fs::read_dir(path) {
        Ok(entries) => {
            for entry in entries.flatten() {
                collect(&entry.path(), files);
            }
        }
        Err(_) if path.is_file() => files.push(path.to_owned()),
        Err(_) => {}
    }
}
