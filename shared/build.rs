//! Generates the Rust types of the page⇄hub protocol and their codec from the one table,
//! `src/protocol.rs` (see `codegen.rs`); `src/port.rs` includes the result.

#[path = "src/protocol.rs"]
mod protocol;

#[path = "codegen.rs"]
mod codegen;

fn main() {
    println!("cargo:rerun-if-changed=src/protocol.rs");
    println!("cargo:rerun-if-changed=codegen.rs");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("protocol.rs"), codegen::rust()).expect("cannot write OUT_DIR/protocol.rs");
}
