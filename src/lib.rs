//! Switchboard's dev server: the reference Socket.IO backend, the demo page and the bundle.

pub mod assets;
pub mod auth;
pub mod bench;
pub mod cdp;
pub mod clock;
pub mod server;

use std::io::Write;
use std::path::Path;

/// Writes the deployable browser bundle into `dir`.
pub fn write_bundle(dir: &Path) -> std::io::Result<Vec<(String, usize, usize)>> {
    std::fs::create_dir_all(dir)?;
    let mut sizes = Vec::new();
    for (name, bytes) in assets::bundle() {
        std::fs::write(dir.join(name), bytes)?;
        sizes.push((name.to_string(), bytes.len(), gzip_len(bytes)));
    }
    Ok(sizes)
}

/// Size after `gzip -9`, the measure used for bundle budgets.
pub fn gzip_len(bytes: &[u8]) -> usize {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let _ = enc.write_all(bytes);
    enc.finish().map(|v| v.len()).unwrap_or(0)
}

/// Where `scripts/setup` installs the official Socket.IO Admin UI's static files (npm
/// `@socket.io/admin-ui`, `ui/dist`).
pub fn admin_ui_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/node_modules/@socket.io/admin-ui/ui/dist")
}
