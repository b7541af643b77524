//! The bundle's type declarations under `tsc --strict` (TypeScript from tools/, installed by
//! scripts/setup): `tests/types/ok.ts` — typed event maps as socket.io-client's
//! `Socket<ListenEvents, EmitEvents>`, every `on*` returning its unsubscribe — must compile;
//! `tests/types/bad.ts` must not, with an error on every line marked `// error`.

use std::path::Path;
use std::process::Command;

fn tsc(file: &str) -> (bool, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join("tools/node_modules/.bin/tsc"))
        .args(["--strict", "--noEmit", "--target", "es2022", "--module", "esnext"])
        .args(["--moduleResolution", "bundler", "--lib", "es2022,dom", file])
        .current_dir(root.join("tests/types"))
        .output()
        .expect("tsc (tools/, installed by scripts/setup)");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn typed_events_and_unsubscribe_compile() {
    let (ok, text) = tsc("ok.ts");
    assert!(ok, "{text}");
}

#[test]
fn wrong_event_names_and_arguments_do_not_compile() {
    let (ok, text) = tsc("bad.ts");
    assert!(!ok, "bad.ts compiled");
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/types/bad.ts")).expect("bad.ts");
    let marked: Vec<usize> =
        source.lines().enumerate().filter(|(_, l)| l.ends_with("// error")).map(|(n, _)| n + 1).collect();
    assert!(marked.len() >= 6, "{marked:?}");
    for line in marked {
        assert!(text.contains(&format!("bad.ts({line},")), "no error reported on line {line}:\n{text}");
    }
    let reported = text.lines().filter(|l| l.starts_with("bad.ts(")).count();
    assert_eq!(reported, 8, "only the marked lines fail:\n{text}");
}
