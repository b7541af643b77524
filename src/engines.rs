//! The test browser's engine: Chromium (CDP, [`crate::cdp`]), Firefox ESR (WebDriver BiDi,
//! spoken directly to Firefox's remote agent) or WebKitGTK (WebDriver classic over HTTP, to
//! `WebKitWebDriver` driving MiniBrowser under Xvfb). `SWITCHBOARD_BROWSER=firefox|webkit`
//! picks one for a test run (default chromium). What every engine offers: open a tab at a
//! URL, evaluate an expression awaiting its promise, close the tab. What only CDP offers
//! (crash a renderer, freeze a page, reach a worker) fails with a message saying so.

use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

pub const FIREFOX: &str = "/usr/bin/firefox-esr";
pub const WEBKIT_DRIVER: &str = "/usr/bin/WebKitWebDriver";
pub const MINIBROWSER: &str = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Chromium,
    Firefox,
    WebKit,
}

impl Engine {
    /// `SWITCHBOARD_BROWSER`: `chromium` (or unset), `firefox`, `webkit`.
    pub fn from_env() -> Engine {
        match std::env::var("SWITCHBOARD_BROWSER").unwrap_or_default().as_str() {
            "" | "chromium" => Engine::Chromium,
            "firefox" => Engine::Firefox,
            "webkit" => Engine::WebKit,
            other => panic!("SWITCHBOARD_BROWSER={other}: chromium, firefox or webkit"),
        }
    }
}

/// Starts Firefox ESR headless on `profile` with its WebDriver BiDi endpoint on a free
/// loopback port: the process and the endpoint's session URL.
pub async fn launch_firefox(profile: &std::path::Path) -> (Child, String) {
    // No first-run pages, no background requests beyond loopback.
    let prefs = [
        ("browser.shell.checkDefaultBrowser", "false"),
        ("datareporting.policy.dataSubmissionEnabled", "false"),
        ("toolkit.telemetry.enabled", "false"),
        ("app.update.disabledForTesting", "true"),
        ("network.dns.disablePrefetch", "true"),
        ("browser.safebrowsing.update.enabled", "false"),
    ];
    let user_js: String = prefs.iter().map(|(k, v)| format!("user_pref(\"{k}\", {v});\n")).collect();
    std::fs::write(profile.join("user.js"), user_js).expect("the Firefox profile's prefs");
    let mut child = Command::new(FIREFOX)
        .args(["--headless", "--no-remote", "--remote-debugging-port=0", "--profile"])
        .arg(profile)
        .arg("about:blank")
        .env("MOZ_CRASHREPORTER_DISABLE", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {FIREFOX} (scripts/setup installs firefox-esr): {e}"));
    let url = address_on_stderr(&mut child, "WebDriver BiDi listening on ", 60).await;
    (child, format!("{url}/session"))
}

/// What the browser `child` prints after `prefix` on its stderr (its protocol endpoint),
/// within `secs`; stderr is drained from then on so the browser never blocks on a full pipe.
pub(crate) async fn address_on_stderr(child: &mut Child, prefix: &str, secs: u64) -> String {
    let mut lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
    let found = tokio::time::timeout(Duration::from_secs(secs), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(url) = line.strip_prefix(prefix) {
                return Some(url.trim().to_string());
            }
        }
        None
    })
    .await;
    let url = match found {
        Ok(Some(url)) => url,
        Ok(None) => panic!("the browser exited before printing \"{prefix}…\""),
        Err(_) => panic!("the browser did not print \"{prefix}…\" within {secs} s"),
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    url
}

/// A BiDi RemoteValue as plain JSON (what CDP's `returnByValue` gives).
pub fn remote_value(v: &Value) -> Value {
    let list = |v: &Value| v["value"].as_array().cloned().unwrap_or_default();
    match v["type"].as_str().unwrap_or("") {
        "string" | "boolean" => v["value"].clone(),
        "number" => match &v["value"] {
            Value::String(s) if s == "-0" => json!(0),
            n @ Value::Number(_) => n.clone(),
            _ => Value::Null, // NaN, Infinity: what JSON.stringify makes of them
        },
        "bigint" | "date" | "regexp" => v["value"].clone(),
        "array" | "set" => Value::Array(list(v).iter().map(remote_value).collect()),
        "object" | "map" => Value::Object(
            list(v)
                .iter()
                .filter_map(|pair| {
                    let key = match &pair[0] {
                        Value::String(s) => s.clone(),
                        other => remote_value(other).as_str()?.to_string(),
                    };
                    Some((key, remote_value(&pair[1])))
                })
                .collect(),
        ),
        _ => Value::Null,
    }
}

/// WebDriver classic over raw HTTP/1.1 to WebKitWebDriver, one command at a time (a session
/// has one current window: each command on a tab switches to it first).
pub struct Classic {
    port: u16,
    session: String,
    current: tokio::sync::Mutex<String>,
    /// The session's first window, never closed: the current one after a tab closes (a
    /// session with no current window can open none, and closing the last ends it).
    home: String,
    _xvfb: Child,
}

impl Classic {
    /// Xvfb on a free display, WebKitWebDriver on a free port, a session of MiniBrowser.
    pub async fn launch() -> (Child, Classic) {
        let (xvfb, display) = xvfb().await;
        let port = free_port();
        let child = Command::new(WEBKIT_DRIVER)
            .arg(format!("--port={port}"))
            .arg("--host=127.0.0.1")
            .env("DISPLAY", &display)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {WEBKIT_DRIVER} (scripts/setup installs webkit2gtk-driver): {e}"));
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"webkitgtk:browserOptions": {
            "binary": MINIBROWSER, "args": ["--automation"]}}}});
        let r = request(port, "POST", "/session", Some(&caps)).await.expect("a WebKit WebDriver session");
        let session = r["sessionId"].as_str().expect("sessionId").to_string();
        let home = request(port, "GET", &format!("/session/{session}/window"), None).await.expect("the first window");
        let home = home.as_str().expect("a window handle").to_string();
        let current = tokio::sync::Mutex::new(home.clone());
        let classic = Classic { port, session, current, home, _xvfb: xvfb };
        let timeouts = json!({"script": 120_000, "pageLoad": 30_000});
        classic.cmd("POST", "/timeouts", Some(&timeouts)).await.expect("timeouts");
        (child, classic)
    }

    async fn cmd(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        request(self.port, method, &format!("/session/{}{path}", self.session), body).await
    }

    async fn switch(&self, current: &mut String, handle: &str) -> Result<(), String> {
        if current != handle {
            self.cmd("POST", "/window", Some(&json!({"handle": handle}))).await?;
            *current = handle.to_string();
        }
        Ok(())
    }

    /// A new tab at `url` (loaded): its window handle.
    pub async fn open(&self, url: &str) -> String {
        let mut current = self.current.lock().await;
        let w = self.cmd("POST", "/window/new", Some(&json!({"type": "tab"}))).await.expect("a new window");
        let handle = w["handle"].as_str().expect("handle").to_string();
        self.switch(&mut current, &handle).await.expect("switch to the new window");
        self.cmd("POST", "/url", Some(&json!({"url": url}))).await.unwrap_or_else(|e| panic!("{url}: {e}"));
        handle
    }

    /// `src` (an expression, or statements ending in one) in tab `handle`, its promise
    /// awaited: the value as JSON, or the exception's text.
    pub async fn eval(&self, handle: &str, src: &str) -> Result<Value, String> {
        let mut current = self.current.lock().await;
        self.switch(&mut current, handle).await?;
        let (stmts, expr) = completion(src);
        let script = format!(
            "const done = arguments[arguments.length - 1];\n\
             (async () => {{ {stmts}\n return ({expr}\n); }})().then(\
             (v) => done({{ ok: JSON.stringify(v) ?? 'null' }}), (e) => done({{ err: String((e && e.stack) || e) }}));"
        );
        let r = self.cmd("POST", "/execute/async", Some(&json!({"script": script, "args": []}))).await?;
        match (r["ok"].as_str(), r["err"].as_str()) {
            (Some(ok), _) => serde_json::from_str(ok).map_err(|e| e.to_string()),
            (_, Some(err)) => Err(err.to_string()),
            _ => Err(format!("unexpected answer {r}")),
        }
    }

    /// The cookies of the current window's page.
    pub async fn cookies(&self) -> Result<Value, String> {
        let _current = self.current.lock().await;
        self.cmd("GET", "/cookie", None).await
    }

    pub async fn close(&self, handle: &str) {
        let mut current = self.current.lock().await;
        if self.switch(&mut current, handle).await.is_ok() {
            let _ = self.cmd("DELETE", "/window", None).await;
            current.clear();
            let home = self.home.clone();
            let _ = self.switch(&mut current, &home).await;
        }
    }

    pub async fn shutdown(&self) {
        let _ = request(self.port, "DELETE", &format!("/session/{}", self.session), None).await;
    }
}

/// Splits a script at its last top-level `;`: the statements before it and the expression
/// whose value it returns (`undefined` when the last part is itself a statement).
pub fn completion(src: &str) -> (String, String) {
    let (mut depth, mut quote, mut escaped, mut last) = (0i32, None::<char>, false, None);
    for (i, c) in src.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' | '`' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ';' if depth == 0 => last = Some(i),
            _ => {}
        }
    }
    let (stmts, tail) = match last {
        Some(i) => (format!("{};", &src[..i]), src[i + 1..].trim()),
        None => (String::new(), src.trim()),
    };
    let statement = ["for", "if", "while", "const", "let", "var", "try", "do", "switch", "throw"]
        .iter()
        .any(|k| tail.strip_prefix(k).is_some_and(|rest| rest.starts_with([' ', '(', '{'])));
    match (tail.is_empty(), statement) {
        (true, _) => (stmts, "undefined".into()),
        (false, true) => (format!("{stmts}\n{tail}"), "undefined".into()),
        (false, false) => (stmts, tail.to_string()),
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("addr").port()
}

/// Xvfb on a display it picks itself (`-displayfd`: the first free one, stale locks of killed
/// servers taken over): the process and `DISPLAY`.
async fn xvfb() -> (Child, String) {
    let mut child = Command::new("Xvfb")
        .args(["-displayfd", "1", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start Xvfb (scripts/setup installs xvfb): {e}"));
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
    let n: u32 = match line {
        Ok(Ok(Some(l))) => l.trim().parse().expect("Xvfb prints its display number"),
        _ => panic!("Xvfb did not start within 30 s"),
    };
    (child, format!(":{n}"))
}

/// One WebDriver HTTP request: the answer's `value`, or its error and message.
async fn request(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let body = body.map(Value::to_string).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
    s.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out);
    let (head, rest) = text.split_once("\r\n\r\n").ok_or("no HTTP answer")?;
    let rest =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(rest) } else { rest.into() };
    let v: Value = serde_json::from_str(&rest).map_err(|e| format!("{e}: {rest}"))?;
    let value = v["value"].clone();
    match value.get("error") {
        Some(e) => Err(format!("{e}: {}", value["message"])),
        None => Ok(value),
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::completion;

    #[test]
    fn a_script_splits_into_statements_and_its_value() {
        assert_eq!(completion("1 + 1"), ("".into(), "1 + 1".into()));
        let (s, e) = completion("a.value = 'x; y'; b.submit()");
        assert_eq!((s.as_str(), e.as_str()), ("a.value = 'x; y';", "b.submit()"));
        let (s, e) = completion("for (let n = 0; n < 2; n++) f(n)");
        assert_eq!((s.trim(), e.as_str()), ("for (let n = 0; n < 2; n++) f(n)", "undefined"));
        assert_eq!(completion("f();").1, "undefined");
    }
}
