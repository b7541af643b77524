//! Builds the browser bundle: compiles `worker` and `page-client` to wasm32 with a nested
//! cargo (its own target dir, else it deadlocks on ours), generates their JS glue with
//! wasm-bindgen, shrinks them with `wasm-opt -Oz` when the npm `binaryen` package is
//! installed, and writes `assets.rs` so the binary embeds the bundle and `static/`.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "shared/src/protocol.rs"]
mod protocol;

#[path = "shared/codegen.rs"]
mod codegen;

const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// (crate name, wasm file stem, bundle name of the glue). A tab loads no wasm: the bundle's
/// page client is JS (`page-client/js`, its protocol core `core.js`); the page-client crate's
/// wasm is for Rust front ends (`tests/apps/rust`, built by `rust_app`).
const CRATES: [(&str, &str, &str); 1] = [("switchboard-worker", "switchboard_worker", "switchboard_hub")];

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    // OUT_DIR is <target>/<profile>/build/<pkg>/out: share one nested dir across profiles.
    let target_root = out.ancestors().nth(4).map(Path::to_path_buf).unwrap_or_else(|| out.clone());
    let nested = target_root.join("wasm");

    for p in [
        "Cargo.toml",
        "Cargo.lock",
        "shared",
        "worker",
        "page-client",
        "static",
        "tools/package-lock.json",
        "tests/apps/rust/Cargo.toml",
        "tests/apps/rust/src",
        "tests/apps/rust/index.html",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    println!("cargo:rerun-if-env-changed=SWITCHBOARD_WASM_OPT");
    println!("cargo:rerun-if-env-changed=SWITCHBOARD_ESBUILD");
    println!("cargo:rerun-if-env-changed=SWITCHBOARD_KEEP_NAMES");

    write_protocol_js(&root);
    ensure_wasm_target();

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for (krate, _, _) in CRATES {
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(&root)
            .args(["build", "--release", "--target", WASM_TARGET, "-p", krate, "--target-dir"])
            .arg(&nested);
        for var in [
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_BUILD_TARGET",
            "RUSTC_WORKSPACE_WRAPPER",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_RUSTFLAGS",
        ] {
            cmd.env_remove(var);
        }
        let status = cmd.status().expect("cannot run cargo for the wasm build");
        assert!(status.success(), "the wasm build of {krate} failed (see the errors above)");
    }

    let pkg = out.join("pkg");
    let _ = fs::remove_dir_all(&pkg); // nothing stale (a file an older build wrote) reaches dist
    fs::create_dir_all(&pkg).expect("cannot create OUT_DIR/pkg");
    let wasm_opt = find_tool(&root, "wasm-opt");
    if wasm_opt.is_none() {
        println!(
            "cargo:warning=wasm-opt not found (run `npm ci --prefix tools`, or set SWITCHBOARD_WASM_OPT): the bundle is built without wasm-opt and is larger"
        );
    }
    for (_, stem, name) in CRATES {
        let input = nested.join(WASM_TARGET).join("release").join(format!("{stem}.wasm"));
        rerun_from_dep_info(&nested.join(WASM_TARGET).join("release").join(format!("{stem}.d")), &root);
        let mut bindgen = wasm_bindgen_cli_support::Bindgen::new();
        bindgen
            .input_path(&input)
            .out_name(name)
            .typescript(false)
            // SWITCHBOARD_KEEP_NAMES=1 keeps function names, for `twiggy top` size work.
            .remove_name_section(env::var_os("SWITCHBOARD_KEEP_NAMES").is_none())
            .remove_producers_section(true)
            .omit_default_module_path(false);
        bindgen.web(true).expect("wasm-bindgen: web target");
        bindgen.generate(&pkg).unwrap_or_else(|e| panic!("wasm-bindgen failed on {}: {e}", input.display()));
        flatten_snippets(&pkg, name);
        fix_glue(&pkg.join(format!("{name}.js")), name);
        if let Some(opt) = &wasm_opt {
            let wasm = pkg.join(format!("{name}_bg.wasm"));
            let status = Command::new(opt)
                .arg(&wasm)
                .args(["-Oz", "--strip-producers"])
                .arg(if env::var_os("SWITCHBOARD_KEEP_NAMES").is_some() { "--debuginfo" } else { "--strip-debug" })
                .arg("-o")
                .arg(&wasm)
                .args(FEATURES)
                .status()
                .expect("cannot run wasm-opt");
            assert!(status.success(), "wasm-opt failed on {}", wasm.display());
        }
        shorten_imports(&pkg.join(format!("{name}_bg.wasm")), &pkg.join(format!("{name}.js")), name);
    }

    let dist = out.join("dist");
    assemble(&root, &pkg, &dist);
    write_assets(&root, &dist, &out.join("assets.rs"));
    rust_app(&root, &cargo, &nested, &out.join("apps/rust"));
}

/// The Rust front end of `tests/apps/rust` (the page client's Rust API in a wasm app), built
/// the same way beside the bundle (never in it) for `tests/rust_app.rs`, which finds it
/// through `SWITCHBOARD_RUST_APP`.
fn rust_app(root: &Path, cargo: &str, nested: &Path, dir: &Path) {
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--release", "--target", WASM_TARGET, "-p", "switchboard-rust-app", "--target-dir"])
        .arg(nested);
    for var in
        ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_TARGET", "RUSTC_WORKSPACE_WRAPPER", "CARGO_TARGET_DIR"]
    {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("cannot run cargo for the Rust app's wasm build");
    assert!(status.success(), "the wasm build of tests/apps/rust failed (see the errors above)");
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).expect("cannot create OUT_DIR/apps/rust");
    let input = nested.join(WASM_TARGET).join("release/switchboard_rust_app.wasm");
    let mut bindgen = wasm_bindgen_cli_support::Bindgen::new();
    bindgen.input_path(&input).typescript(false).omit_default_module_path(false);
    bindgen.web(true).expect("wasm-bindgen: web target");
    bindgen.generate(dir).unwrap_or_else(|e| panic!("wasm-bindgen failed on {}: {e}", input.display()));
    fs::copy(root.join("tests/apps/rust/index.html"), dir.join("index.html")).expect("cannot copy the app's page");
    println!("cargo:rustc-env=SWITCHBOARD_RUST_APP={}", dir.display());
}

/// The deployable bundle in `dist`: each entry script of `static/bundle` with the glue it
/// imports, bundled and minified by esbuild into one file (the budget counts what a tab
/// loads), the wasm files, and the rest of `static/bundle` (types). Without esbuild the
/// glue ships as generated, unminified, beside the entries.
fn assemble(root: &Path, pkg: &Path, dist: &Path) {
    let _ = fs::remove_dir_all(dist);
    fs::create_dir_all(dist).expect("cannot create OUT_DIR/dist");
    let esbuild = find_tool(root, "esbuild");
    if esbuild.is_none() {
        println!("cargo:warning=esbuild not found (run `npm ci --prefix tools`): the bundle's JS is not minified");
    }
    let copy = |from: &Path, to: &Path| {
        fs::copy(from, to).unwrap_or_else(|e| panic!("cannot copy {}: {e}", from.display()));
    };
    // Modules the entries share beside the glue they use: the bootstrap, socket.io-client's
    // API (`switchboard-compat.js`), shared state (`switchboard-state.js`), security
    // (`switchboard-security.js`), debugging (`switchboard-debug.js`), the React bindings
    // (`switchboard-react.js`), the modes without a SharedWorker (`switchboard-reach.js`).
    for module in [
        "protocol.js",
        "connect.js",
        "core.js",
        "compat.js",
        "state.js",
        "security.js",
        "debug.js",
        "reach.js",
        "react.js",
    ] {
        copy(&root.join("page-client/js").join(module), &pkg.join(module));
    }
    // The client (for Rust front ends, a wasm-bindgen snippet of the page-client crate).
    copy(&root.join("page-client/js/client.js"), &pkg.join("switchboard_page_client.js"));
    for e in fs::read_dir(pkg).expect("cannot read OUT_DIR/pkg").flatten() {
        let name = e.file_name().into_string().expect("UTF-8 names");
        if name.ends_with(".wasm") || esbuild.is_none() {
            copy(&e.path(), &dist.join(&name));
        }
    }
    let statics = root.join("static/bundle");
    let mut entries: Vec<_> = fs::read_dir(&statics).expect("cannot read static/bundle").flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().into_string().expect("UTF-8 names");
        let Some(esbuild) = esbuild.as_ref().filter(|_| name.ends_with(".js")) else {
            copy(&e.path(), &dist.join(&name));
            continue;
        };
        // The entry imports its glue as `./<glue>.js`: bundle it from beside the glue.
        let staged = pkg.join(format!("entry-{name}"));
        copy(&e.path(), &staged);
        let status = Command::new(esbuild)
            .arg(&staged)
            .args(["--bundle", "--format=esm", "--minify", "--legal-comments=none", "--log-level=warning"])
            // Loaded on demand where SharedWorker is missing: its own file, never inlined.
            .arg("--external:./switchboard-reach.js")
            // The core every feature entry shares (one copy, one registry of features).
            .args((name != "switchboard.js").then_some("--external:./switchboard.js"))
            // The app's own React (the React bindings' peer dependency).
            .arg("--external:react")
            // Private members end in `_` (page-client/js/client.js): shortened, the API kept.
            .arg(format!("--mangle-props={MANGLED}"))
            .arg(format!("--outfile={}", dist.join(&name).display()))
            .status()
            .expect("cannot run esbuild");
        assert!(status.success(), "esbuild failed on {name}");
        fs::remove_file(&staged).expect("cannot remove a staged entry");
    }
}

/// `page-client/js/protocol.js`, the page client's constants and codec, generated from the
/// protocol table (`shared/src/protocol.rs`, see `shared/codegen.rs`). It is written into the
/// source tree, and committed, because wasm-bindgen ships the page-client crate's JS
/// (`client.js`, which imports it) from there to Rust front ends; written only when the
/// table changed, so it never triggers a rebuild by itself.
fn write_protocol_js(root: &Path) {
    let path = root.join("page-client/js/protocol.js");
    let js = codegen::js();
    if fs::read_to_string(&path).ok().as_deref() != Some(js.as_str()) {
        fs::write(&path, js).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
}

/// Two edits to the glue wasm-bindgen writes (each left alone if this version words it
/// otherwise): its warning for a call form the bootstrap never uses (`initSync(module)`,
/// dead bytes every tab would download), and its wasm URL made explicitly relative
/// (`new URL('./x_bg.wasm', import.meta.url)`), the form webpack 5 and Vite copy and
/// fingerprint.
fn fix_glue(glue: &Path, name: &str) {
    const WARNING: &str = "console.warn('using deprecated parameters for `initSync()`; pass a single object instead')";
    let Ok(js) = fs::read_to_string(glue) else { return };
    let bare = format!("new URL('{name}_bg.wasm', import.meta.url)");
    let relative = format!("new URL('./{name}_bg.wasm', import.meta.url)");
    fs::write(glue, js.replace(WARNING, "").replace(&bare, &relative)).expect("cannot write the glue");
}

/// Renames the wasm's imports from its glue (`./<name>_bg.js`, 120-odd functions named
/// `__wbg_<fn>_<16 hex digits>`) to `a` / `$0`, `$1`, … in the wasm's import section and in
/// the glue's import object: the hashes do not compress, and both files carry them (4 KB
/// gzip off a first visit). Every name must be found exactly once as a key of the glue's
/// import object, or the build stops (a wasm-bindgen that words its glue otherwise).
fn shorten_imports(wasm: &Path, glue: &Path, name: &str) {
    let bytes = fs::read(wasm).expect("cannot read the wasm");
    let mut js = fs::read_to_string(glue).expect("cannot read the glue");
    let module = format!("./{name}_bg.js");
    let quoted = format!("\"{module}\": import0");
    assert_eq!(js.matches(&quoted).count(), 1, "the glue's import object is not `{quoted}`");
    js = js.replace(&quoted, "a: import0");
    let mut out = bytes[..8].to_vec();
    let mut at = 8;
    let mut renamed = 0;
    while at < bytes.len() {
        let id = bytes[at];
        let (len, body_at) = leb(&bytes, at + 1);
        let body = &bytes[body_at..body_at + len];
        at = body_at + len;
        if id != 2 {
            out.push(id);
            put_leb(&mut out, len);
            out.extend_from_slice(body);
            continue;
        }
        let (count, mut i) = leb(body, 0);
        let mut section = Vec::new();
        put_leb(&mut section, count);
        for _ in 0..count {
            let (n, j) = leb(body, i);
            let module_name = &body[j..j + n];
            let (n, k) = leb(body, j + n);
            let field = std::str::from_utf8(&body[k..k + n]).expect("UTF-8 import name");
            let desc_at = k + n;
            let desc_end = import_desc_end(body, desc_at);
            if module_name == module.as_bytes() {
                let short = format!("${renamed:x}");
                renamed += 1;
                let key = format!("{field}: ");
                assert_eq!(js.matches(&key).count(), 1, "the glue names the import {field} other than once");
                js = js.replace(&key, &format!("{short}: "));
                put_leb(&mut section, 1);
                section.push(b'a');
                put_leb(&mut section, short.len());
                section.extend_from_slice(short.as_bytes());
            } else {
                section.extend_from_slice(&body[i..desc_at]);
            }
            section.extend_from_slice(&body[desc_at..desc_end]);
            i = desc_end;
        }
        out.push(id);
        put_leb(&mut out, section.len());
        out.extend_from_slice(&section);
    }
    fs::write(wasm, out).expect("cannot write the wasm");
    fs::write(glue, js).expect("cannot write the glue");
}

/// The end of an import's description (function, table, memory, global or tag).
fn import_desc_end(b: &[u8], at: usize) -> usize {
    let limits = |at: usize| {
        let flags = b[at];
        let (_, end) = leb(b, at + 1);
        if flags & 1 == 1 {
            leb(b, end).1
        } else {
            end
        }
    };
    match b[at] {
        0 => leb(b, at + 1).1, // function: type index
        1 => limits(at + 2),   // table: reftype, limits
        2 => limits(at + 1),   // memory: limits
        3 => at + 3,           // global: valtype, mutability
        _ => leb(b, at + 2).1, // tag: attribute, type index
    }
}

/// An unsigned LEB128 at `at`: (value, the index after it).
fn leb(b: &[u8], mut at: usize) -> (usize, usize) {
    let (mut value, mut shift) = (0usize, 0);
    loop {
        let byte = b[at];
        at += 1;
        value |= usize::from(byte & 0x7f) << shift;
        shift += 7;
        if byte < 0x80 {
            return (value, at);
        }
    }
}

fn put_leb(out: &mut Vec<u8>, mut v: usize) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Properties esbuild shortens: lower-case names ending in one `_` (never `__proto__`).
const MANGLED: &str = "^[a-z][A-Za-z0-9]*_$";

/// Features rustc enables for wasm32 by default; wasm-opt must accept them.
const FEATURES: [&str; 6] = [
    "--enable-bulk-memory",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-reference-types",
    "--enable-multivalue",
];

fn ensure_wasm_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let libdir = Command::new(rustc).args(["--print", "target-libdir", "--target", WASM_TARGET]).output().ok();
    let installed =
        libdir.is_some_and(|o| o.status.success() && Path::new(String::from_utf8_lossy(&o.stdout).trim()).is_dir());
    if !installed {
        println!("cargo:warning=installing the {WASM_TARGET} target with rustup");
        let ok = Command::new("rustup").args(["target", "add", WASM_TARGET]).status().is_ok_and(|s| s.success());
        assert!(ok, "the {WASM_TARGET} target is missing and `rustup target add {WASM_TARGET}` failed");
    }
}

/// A tool from `tools/node_modules` (`SWITCHBOARD_<TOOL>` overrides; empty disables it).
fn find_tool(root: &Path, tool: &str) -> Option<PathBuf> {
    if let Ok(p) = env::var(format!("SWITCHBOARD_{}", tool.to_uppercase().replace('-', "_"))) {
        return (!p.is_empty()).then(|| PathBuf::from(p));
    }
    let local = root.join("tools/node_modules/.bin").join(tool);
    if !local.is_file() && root.join("tools/package-lock.json").is_file() {
        // First build on a new machine: fetch the pinned tools (npm registry) once.
        println!("cargo:warning=installing {tool} with `npm ci --prefix tools`");
        let _ = Command::new("npm")
            .args(["ci", "--prefix", "tools", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(root)
            .status();
    }
    local.is_file().then_some(local)
}

/// Re-run when any workspace source the wasm build read changes.
fn rerun_from_dep_info(dep_file: &Path, root: &Path) {
    let Ok(text) = fs::read_to_string(dep_file) else {
        return;
    };
    let Some((_, deps)) = text.lines().next().and_then(|l| l.split_once(": ")) else {
        return;
    };
    for dep in deps.split_whitespace() {
        if Path::new(dep).starts_with(root) && !dep.contains("/target/") {
            println!("cargo:rerun-if-changed={dep}");
        }
    }
}

/// wasm-bindgen puts a crate's JS snippets (`#[wasm_bindgen(module = "/js/x.js")]`) under
/// `snippets/<crate>-<hash>/`; the bundle is flat, so each becomes `<name>_<file>` beside
/// the glue, which is rewritten to import it from there.
fn flatten_snippets(pkg: &Path, name: &str) {
    let dir = pkg.join("snippets");
    let Ok(crates) = fs::read_dir(&dir) else { return };
    let glue_path = pkg.join(format!("{name}.js"));
    let mut glue = fs::read_to_string(&glue_path).expect("cannot read the JS glue");
    let mut files = Vec::new();
    for krate in crates.flatten() {
        let mut stack = vec![krate.path()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).expect("cannot read snippets").flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    files.push(p);
                }
            }
        }
    }
    for file in files {
        let rel = file.strip_prefix(pkg).expect("snippet under pkg").to_str().expect("UTF-8 path").replace('\\', "/");
        let flat = format!("{name}_{}", file.file_name().and_then(|n| n.to_str()).expect("UTF-8 name"));
        assert!(glue.contains(&format!("./{rel}")), "the glue does not import {rel}");
        glue = glue.replace(&format!("./{rel}"), &format!("./{flat}"));
        fs::rename(&file, pkg.join(&flat)).expect("cannot move a snippet");
    }
    fs::write(&glue_path, glue).expect("cannot write the JS glue");
    fs::remove_dir_all(&dir).expect("cannot remove snippets/");
}

fn write_assets(root: &Path, dist: &Path, dest: &Path) {
    let mut files: Vec<(String, PathBuf, bool)> = Vec::new();
    let mut add_dir = |dir: &Path, bundle: bool| {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries.into_iter().filter(|p| p.is_file()) {
            let name = p.file_name().and_then(|n| n.to_str()).expect("static file names are UTF-8").to_string();
            files.push((name, p, bundle));
        }
    };
    add_dir(dist, true);
    add_dir(&root.join("static"), false);
    let mut src = String::from(
        "/// (file name, contents, part of the deployable bundle)\npub static ASSETS: &[(&str, &[u8], bool)] = &[\n",
    );
    for (name, path, bundle) in files {
        writeln!(src, "    ({name:?}, include_bytes!({:?}), {bundle}),", path.display().to_string())
            .expect("write to String");
    }
    src.push_str("];\n");
    fs::write(dest, src).expect("cannot write assets.rs");
}
