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
    for sub in [&[][..], &["serve"], &["bundle"], &["bench"], &["hash-password"]] {
        let (ok, text) = run(&[sub, &["--help"]].concat());
        assert!(ok && text.contains("Usage: switchboard"), "{sub:?} --help: {text}");
        let (ok, text) = run(&[sub, &["--version"]].concat());
        assert!(ok && text.contains(env!("CARGO_PKG_VERSION")), "{sub:?} --version: {text}");
    }
    let (_, text) = run(&["--help"]);
    for flag in [
        "--port",
        "--bind",
        "--ping-interval",
        "--ping-timeout",
        "--allow-origin",
        "--users",
        "--access-ttl",
        "--verify-new-devices",
        "--rate",
    ] {
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

/// `hash-password` reads the password from standard input and prints a `--users` line; the
/// server takes that file and refuses one with a plain password, naming the line, never
/// quoting the password.
#[test]
fn hash_password_makes_users_lines_and_plain_ones_are_refused() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["hash-password", "--user", "carol"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(b"carol-secret-1\n").expect("write");
    let out = child.wait_with_output().expect("output");
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(out.status.success() && line.starts_with("carol:$argon2id$"), "{line}");
    assert!(!line.contains("carol-secret-1"));
    let users = switchboard::auth::parse_users(&line).expect("a valid users line");
    assert_eq!(users[0].0, "carol");
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("users");
    std::fs::write(&file, "dave:plain-password-here\n").expect("write");
    let (ok, text) = run(&["--port", "0", "--users", file.to_str().expect("path")]);
    assert!(!ok && text.contains("line 1") && text.contains("hash-password"), "{text}");
    assert!(!text.contains("plain-password-here"), "the password is never quoted: {text}");
}

/// A server whose output goes to a pipe or a file logs plain text: no ANSI colour codes.
#[test]
fn logs_to_a_pipe_have_no_colour_codes() {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--port", "0", "--allow-origin", "http://app.example"])
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    // The banner, then a log line of the first connection's refusal.
    let url = loop {
        let line = lines.next().expect("a line").expect("text");
        if let Some(rest) = line.split("server on http://").nth(1) {
            break rest.split_whitespace().next().unwrap_or_default().to_string();
        }
    };
    let mut s = std::net::TcpStream::connect(&url).expect("connect");
    use std::io::{Read, Write};
    write!(s, "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {url}\r\nOrigin: http://evil.example\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("read");
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    let logged =
        lines.map_while(Result::ok).find(|l| l.contains("refused a request from another origin")).expect("logged");
    let _ = child.kill();
    let _ = child.wait();
    assert!(!logged.contains('\u{1b}'), "no escape codes: {logged:?}");
    assert!(logged.contains("--allow-origin http://evil.example"), "{logged}");
}
