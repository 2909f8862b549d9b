//! What is done to a file of the site once, when the binary is built: its fingerprint and its
//! precompressed forms. `build.rs` includes this very file, so the build and the server (which
//! fingerprints files served from a directory the same way) share one definition.

use std::io::Write;

/// FNV-1a, 64 bits, over `bytes`: the same on every toolchain and machine (std's hasher may
/// change between Rust versions), so a file's fingerprint depends on its bytes alone. It names
/// cached files and their ETags; nothing here is adversarial, so a fast hash is enough.
pub fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// gzip at its highest level (`gzip -9`): what a browser without brotli downloads.
pub fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// brotli at its highest quality (11), with the window its size needs: what browsers download.
pub fn brotli(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        size_hint: bytes.len(),
        ..Default::default()
    };
    let mut out = Vec::new();
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params)?;
    Ok(out)
}

/// Whether a compressed form is worth serving: at least 5 % smaller than the file itself.
pub fn worth_it(identity: usize, compressed: usize) -> bool {
    compressed.saturating_mul(20) < identity.saturating_mul(19)
}
