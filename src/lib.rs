//! Switchboard's dev server: the reference Socket.IO backend, the demo page and the bundle.

pub mod assets;
pub mod auth;
pub mod bench;
pub mod bench_flood;
pub mod bench_nodes;
pub mod cdp;
pub mod clock;
pub mod delay;
pub mod engines;
pub mod server;

use std::io::Write;
use std::path::Path;

/// Writes the deployable browser bundle into `dir`, with the `package.json` that makes it
/// an npm package (`npm install ./dir`, then `import { connect } from 'switchboard-client'`).
pub fn write_bundle(dir: &Path) -> std::io::Result<Vec<(String, usize, usize)>> {
    std::fs::create_dir_all(dir)?;
    let mut sizes = Vec::new();
    for (name, bytes) in assets::bundle() {
        std::fs::write(dir.join(name), bytes)?;
        sizes.push((name.to_string(), bytes.len(), gzip_len(bytes)));
    }
    // What the package says about itself (npm shows the README).
    for (name, text) in PACKAGE_DOCS {
        std::fs::write(dir.join(name), text)?;
    }
    let manifest = package_json();
    std::fs::write(dir.join("package.json"), &manifest)?;
    sizes.push(("package.json".into(), manifest.len(), gzip_len(manifest.as_bytes())));
    Ok(sizes)
}

/// The package's README and licence texts, written beside the bundle.
const PACKAGE_DOCS: [(&str, &str); 3] = [
    ("README.md", include_str!("../page-client/package/README.md")),
    ("LICENSE-MIT", include_str!("../LICENSE-MIT")),
    ("LICENSE-APACHE", include_str!("../LICENSE-APACHE")),
];

/// The bundle's npm name.
pub const PACKAGE_NAME: &str = "switchboard-client";

/// The bundle's `package.json`: an ES module package, version from the workspace, whose
/// `exports` are its entries with their types (`.`, `./compat`, `./state`, `./security`,
/// `./debug`, `./react`) and the service worker (`./sw`); the worker, the reach module and the wasm are
/// reached from the entries through `new URL('./…', import.meta.url)`, which bundlers follow.
pub fn package_json() -> String {
    let names: Vec<&str> = assets::bundle().map(|(n, _)| n).collect();
    let q = |s: &str| serde_json::Value::from(s).to_string();
    // Written by hand: the order of an export's conditions matters (`types` first).
    let mut exports = Vec::new();
    for (key, entry) in [
        (".", "switchboard"),
        ("./compat", "switchboard-compat"),
        ("./state", "switchboard-state"),
        ("./security", "switchboard-security"),
        ("./debug", "switchboard-debug"),
        ("./react", "switchboard-react"),
    ] {
        let (types, js) = (format!("{entry}.d.ts"), format!("./{entry}.js"));
        let value = if names.contains(&types.as_str()) {
            format!("{{ \"types\": {}, \"default\": {} }}", q(&format!("./{types}")), q(&js))
        } else {
            q(&js)
        };
        exports.push(format!("    {}: {value}", q(key)));
    }
    exports.push("    \"./sw\": \"./switchboard-sw.js\"".into());
    exports.push("    \"./package.json\": \"./package.json\"".into());
    let docs = PACKAGE_DOCS.iter().map(|(n, _)| *n);
    let files: Vec<String> = names.iter().copied().chain(docs).chain(["package.json"]).map(q).collect();
    let keywords = ["socket.io", "websocket", "sharedworker", "tabs", "webassembly", "realtime", "offline", "react"];
    let keywords: Vec<String> = keywords.into_iter().map(q).collect();
    format!(
        "{{\n  \"name\": {},\n  \"version\": {},\n  \"description\": {},\n  \"license\": {},\n  \"repository\": {{ \"type\": \"git\", \"url\": {} }},\n  \"keywords\": [{}],\n  \"type\": \"module\",\n  \"main\": \"./switchboard.js\",\n  \"module\": \"./switchboard.js\",\n  \"types\": \"./switchboard.d.ts\",\n  \"exports\": {{\n{}\n  }},\n  \"files\": [{}],\n  \"peerDependencies\": {{ \"react\": \">=18\" }},\n  \"peerDependenciesMeta\": {{ \"react\": {{ \"optional\": true }} }},\n  \"sideEffects\": [\"./switchboard-worker.js\", \"./switchboard-sw.js\", \"./switchboard-state.js\", \"./switchboard-security.js\", \"./switchboard-debug.js\"]\n}}\n",
        q(PACKAGE_NAME),
        q(env!("CARGO_PKG_VERSION")),
        q("One Socket.IO connection for every tab of a web app: a Rust/WebAssembly hub in a SharedWorker (or a leader tab) and a small page client"),
        q(env!("CARGO_PKG_LICENSE")),
        q(&format!("git+{}.git", env!("CARGO_PKG_REPOSITORY"))),
        keywords.join(", "),
        exports.join(",\n"),
        files.join(", ")
    )
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
