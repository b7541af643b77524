//! The command line: every subcommand answers --help and --version, and bad flags are
//! refused with a message instead of being ignored.

use std::process::Command;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard")).args(args).output().expect("the binary runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn every_subcommand_has_help_and_version() {
    for sub in [&[][..], &["serve"], &["bundle"], &["bench"]] {
        let (ok, text) = run(&[sub, &["--help"]].concat());
        assert!(ok && text.contains("Usage: switchboard"), "{sub:?} --help: {text}");
        let (ok, text) = run(&[sub, &["--version"]].concat());
        assert!(ok && text.contains(env!("CARGO_PKG_VERSION")), "{sub:?} --version: {text}");
    }
    let (_, text) = run(&["--help"]);
    for flag in ["--port", "--bind", "--ping-interval", "--ping-timeout", "--allow-origin", "--users", "--access-ttl"] {
        assert!(text.contains(flag), "serve flag {flag} documented: {text}");
    }
    assert!(run(&["bench", "--help"]).1.contains("[default: 1,5,20]"));
}

#[test]
fn bad_arguments_are_refused() {
    let (ok, text) = run(&["--port", "nope"]);
    assert!(!ok && text.contains("--port"), "{text}");
    let (ok, text) = run(&["bench", "--tabs", "1,x"]);
    assert!(!ok && text.contains("--tabs"), "{text}");
    let (ok, _) = run(&["serve", "--no-such-flag"]);
    assert!(!ok);
}
