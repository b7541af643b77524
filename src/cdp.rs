//! A minimal Chrome DevTools Protocol client for headless Chromium (flat sessions, raw
//! JSON over a WebSocket): open tabs, evaluate promises, crash tabs, reach workers. Used by
//! the end-to-end tests and the benchmark; not part of the served product.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

pub use crate::engines::Engine;

pub const CHROMIUM: &str = "/usr/bin/chromium";

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, Value>>>>>;

/// One headless Chromium with a fresh profile, killed on drop.
pub struct Browser {
    child: Child,
    _profile: Option<tempfile::TempDir>,
    tx: mpsc::UnboundedSender<Message>,
    pending: Pending,
    next_id: AtomicU64,
    events: broadcast::Sender<Value>,
    /// Run in every page `open` opens, before its own scripts (`set_init_script`).
    init_script: std::sync::Mutex<Option<String>>,
    engine: Engine,
    /// WebKit's WebDriver classic session (the other engines speak over `tx`).
    classic: Option<crate::engines::Classic>,
}

/// A page target with its flat CDP session.
#[derive(Clone, Debug)]
pub struct Tab {
    pub target: String,
    pub session: String,
}

impl Browser {
    /// A fresh browser of the engine `SWITCHBOARD_BROWSER` names (default Chromium).
    pub async fn launch() -> Browser {
        let profile = tempfile::tempdir().expect("a temp dir for the profile");
        let path = profile.path().to_path_buf();
        match Engine::from_env() {
            Engine::Chromium => Self::launch_at(&path, Some(profile)).await,
            Engine::Firefox => Self::launch_firefox(&path, Some(profile)).await,
            Engine::WebKit => Self::launch_webkit().await,
        }
    }

    /// Launches on an existing profile directory (to test what survives a browser restart).
    pub async fn launch_with_profile(dir: &std::path::Path) -> Browser {
        match Engine::from_env() {
            Engine::Chromium => Self::launch_at(dir, None).await,
            Engine::Firefox => Self::launch_firefox(dir, None).await,
            Engine::WebKit => panic!("a kept profile needs Chromium or Firefox (WebKitWebDriver makes its own)"),
        }
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    async fn launch_firefox(dir: &std::path::Path, profile: Option<tempfile::TempDir>) -> Browser {
        let (child, url) = crate::engines::launch_firefox(dir).await;
        let (tx, pending, events) = json_socket(&url).await;
        let b = Browser::new(child, profile, (tx, pending, events), Engine::Firefox, None);
        b.raw(None, "session.new", json!({"capabilities": {}})).await.expect("a BiDi session");
        if std::env::var_os("SB_DEBUG").is_some() {
            b.raw(None, "session.subscribe", json!({"events": ["log.entryAdded"]})).await.expect("subscribe");
            let mut rx = b.events.subscribe();
            tokio::spawn(async move {
                while let Ok(e) = rx.recv().await {
                    eprintln!("[browser] {}", e["params"]["text"]);
                }
            });
        }
        b
    }

    async fn launch_webkit() -> Browser {
        let (child, classic) = crate::engines::Classic::launch().await;
        // No JSON socket: every command goes over `classic`.
        let unused = (mpsc::unbounded_channel().0, Pending::default(), broadcast::channel(1).0);
        Browser::new(child, None, unused, Engine::WebKit, Some(classic))
    }

    fn new(
        child: Child,
        profile: Option<tempfile::TempDir>,
        (tx, pending, events): (mpsc::UnboundedSender<Message>, Pending, broadcast::Sender<Value>),
        engine: Engine,
        classic: Option<crate::engines::Classic>,
    ) -> Browser {
        let (next_id, init_script) = (AtomicU64::new(1), std::sync::Mutex::new(None));
        Browser { child, _profile: profile, tx, pending, next_id, events, init_script, engine, classic }
    }

    async fn launch_at(dir: &std::path::Path, profile: Option<tempfile::TempDir>) -> Browser {
        let mut child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
            ])
            .arg(format!("--user-data-dir={}", dir.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMIUM} (run .ci/run or scripts/setup to install it): {e}"));
        let ws_url = crate::engines::address_on_stderr(&mut child, "DevTools listening on ", 30).await;
        let (tx, pending, events) = json_socket(&ws_url).await;
        if std::env::var_os("SB_DEBUG").is_some() {
            // SB_DEBUG=1 prints every console message and exception of the pages.
            let mut rx = events.subscribe();
            tokio::spawn(async move {
                while let Ok(e) = rx.recv().await {
                    if e["method"] == "Runtime.consoleAPICalled" || e["method"] == "Runtime.exceptionThrown" {
                        eprintln!("[browser] {}", e["params"]);
                    }
                }
            });
        }
        Browser::new(child, profile, (tx, pending, events), Engine::Chromium, None)
    }

    /// Sends a CDP command (to the browser, or to `session`) and waits for its result. Only
    /// Chromium speaks CDP: in another engine this is an error naming the command.
    pub async fn call(&self, session: Option<&str>, method: &str, params: Value) -> Result<Value, Value> {
        if self.engine != Engine::Chromium {
            return Err(json!(format!("{method} is CDP (Chromium only); this run is {:?}", self.engine)));
        }
        self.raw(session, method, params).await
    }

    /// A command of the browser's JSON protocol (CDP or BiDi).
    async fn raw(&self, session: Option<&str>, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("pending lock").insert(id, tx);
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.tx.send(Message::Text(msg.to_string().into())).map_err(|_| json!("CDP connection closed"))?;
        match tokio::time::timeout(Duration::from_secs(60), rx).await {
            Ok(Ok(r)) => r,
            _ => Err(json!(format!("no answer to {method} within 60 s"))),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Value> {
        self.events.subscribe()
    }

    /// A script every page opened from now on runs before its own (e.g. one that removes
    /// `SharedWorker`, as a browser without it).
    pub fn set_init_script(&self, script: &str) {
        if let Ok(mut s) = self.init_script.lock() {
            *s = Some(script.to_string());
        }
    }

    /// Opens `url` in a new tab and waits for its load event (module scripts have run).
    pub async fn open(&self, url: &str) -> Tab {
        let init = self.init_script.lock().ok().and_then(|s| s.clone());
        match (self.engine, &self.classic) {
            (Engine::Chromium, _) => {}
            (Engine::Firefox, _) => return self.open_bidi(url, init).await,
            (Engine::WebKit, Some(c)) => {
                assert!(init.is_none(), "an init script needs CDP or BiDi (WebDriver classic has none)");
                let handle = c.open(url).await;
                return Tab { target: handle.clone(), session: handle };
            }
            (Engine::WebKit, None) => unreachable!("a WebKit browser has its session"),
        }
        let target = self.call(None, "Target.createTarget", json!({"url": "about:blank"})).await.expect("createTarget");
        let target = target["targetId"].as_str().expect("targetId").to_string();
        let attached = self
            .call(None, "Target.attachToTarget", json!({"targetId": target, "flatten": true}))
            .await
            .expect("attachToTarget");
        let session = attached["sessionId"].as_str().expect("sessionId").to_string();
        let tab = Tab { target, session };
        let mut events = self.subscribe();
        self.call(Some(&tab.session), "Page.enable", json!({})).await.expect("Page.enable");
        self.call(Some(&tab.session), "Runtime.enable", json!({})).await.expect("Runtime.enable");
        if let Some(source) = init {
            self.call(Some(&tab.session), "Page.addScriptToEvaluateOnNewDocument", json!({"source": source}))
                .await
                .expect("addScriptToEvaluateOnNewDocument");
        }
        self.call(Some(&tab.session), "Page.navigate", json!({"url": url})).await.expect("Page.navigate");
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                match events.recv().await {
                    Ok(e) if e["method"] == "Page.loadEventFired" && e["sessionId"] == tab.session.as_str() => return,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => panic!("CDP event stream ended"),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{url} did not load within 30 s"));
        tab
    }

    /// A new BiDi browsing context at `url`, loaded, with `init` run before its scripts.
    async fn open_bidi(&self, url: &str, init: Option<String>) -> Tab {
        let created = self.raw(None, "browsingContext.create", json!({"type": "tab"})).await.expect("a new tab");
        let context = created["context"].as_str().expect("context").to_string();
        if let Some(source) = init {
            let f = format!("() => {{ {source}\n}}");
            let params = json!({"functionDeclaration": f, "contexts": [context]});
            self.raw(None, "script.addPreloadScript", params).await.expect("addPreloadScript");
        }
        let params = json!({"context": context, "url": url, "wait": "complete"});
        let nav = tokio::time::timeout(Duration::from_secs(30), self.raw(None, "browsingContext.navigate", params));
        nav.await.unwrap_or_else(|_| panic!("{url} did not load within 30 s")).expect("navigate");
        Tab { target: context.clone(), session: context }
    }

    /// Evaluates `expr` in `tab`, awaiting a promise; returns its value or the exception text.
    pub async fn eval(&self, tab: &Tab, expr: &str) -> Result<Value, String> {
        match (self.engine, &self.classic) {
            (Engine::Chromium, _) => {}
            (Engine::WebKit, Some(c)) => return c.eval(&tab.target, expr).await,
            _ => {
                let params = json!({"expression": expr, "target": {"context": tab.target}, "awaitPromise": true,
                    "resultOwnership": "none"});
                let r = self.raw(None, "script.evaluate", params).await.map_err(|e| e.to_string())?;
                if r["type"] == "exception" {
                    let d = &r["exceptionDetails"];
                    return Err(d["text"].as_str().map(String::from).unwrap_or_else(|| d.to_string()));
                }
                return Ok(crate::engines::remote_value(&r["result"]));
            }
        }
        let r = self
            .call(
                Some(&tab.session),
                "Runtime.evaluate",
                json!({"expression": expr, "awaitPromise": true, "returnByValue": true}),
            )
            .await
            .map_err(|e| e.to_string())?;
        if let Some(ex) = r.get("exceptionDetails") {
            let text =
                ex["exception"]["description"].as_str().or(ex["text"].as_str()).unwrap_or("exception").to_string();
            return Err(text);
        }
        Ok(r["result"]["value"].clone())
    }

    /// Like `eval`, but a failure fails the test with the expression in the message.
    pub async fn js(&self, tab: &Tab, expr: &str) -> Value {
        match self.eval(tab, expr).await {
            Ok(v) => v,
            Err(e) => panic!("JS failed: {e}\n  in: {expr}"),
        }
    }

    /// The browser's cookies, each as CDP describes one (`name`, `value`, `httpOnly`, ...).
    /// WebKit (WebDriver classic) has only the cookies of the page it last used.
    pub async fn cookies(&self) -> Vec<Value> {
        let list = match (self.engine, &self.classic) {
            (Engine::Chromium, _) => {
                self.call(None, "Storage.getCookies", json!({})).await.map(|r| r["cookies"].clone())
            }
            (Engine::WebKit, Some(c)) => c.cookies().await.map_err(|e| json!(e)),
            _ => self.raw(None, "storage.getCookies", json!({})).await.map(|r| {
                let list = r["cookies"].as_array().cloned().unwrap_or_default();
                // BiDi: the value as a typed bytes value, sameSite in lower case.
                let plain = |mut c: Value| {
                    c["value"] = c["value"]["value"].clone();
                    if let Some(s) = c["sameSite"].as_str() {
                        let mut s = s.to_string();
                        s[..1].make_ascii_uppercase();
                        c["sameSite"] = json!(s);
                    }
                    c
                };
                Value::Array(list.into_iter().map(plain).collect())
            }),
        };
        list.expect("the browser's cookies").as_array().cloned().unwrap_or_default()
    }

    pub async fn close_tab(&self, tab: &Tab) {
        match (self.engine, &self.classic) {
            (Engine::Chromium, _) => {}
            (Engine::WebKit, Some(c)) => return c.close(&tab.target).await,
            _ => {
                let _ = self.raw(None, "browsingContext.close", json!({"context": tab.target})).await;
                return;
            }
        }
        let _ = self.call(None, "Target.closeTarget", json!({"targetId": tab.target})).await;
    }

    /// Kills the tab's renderer without letting it run pagehide. Page.crash never answers
    /// (the renderer is gone), so this only sends it.
    pub fn crash_tab(&self, tab: &Tab) {
        assert_eq!(self.engine, Engine::Chromium, "crashing a renderer needs CDP (Chromium only)");
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let msg = json!({"id": id, "method": "Page.crash", "params": {}, "sessionId": tab.session});
        let _ = self.tx.send(Message::Text(msg.to_string().into()));
    }

    /// Attaches to any target (a shared worker, say) and returns its flat session id.
    pub async fn attach(&self, target: &str) -> String {
        let attached = self
            .call(None, "Target.attachToTarget", json!({"targetId": target, "flatten": true}))
            .await
            .expect("attachToTarget");
        attached["sessionId"].as_str().expect("sessionId").to_string()
    }

    /// Sends a command without waiting for an answer (for commands that end their target).
    pub fn send(&self, session: Option<&str>, method: &str, params: Value) {
        assert_eq!(self.engine, Engine::Chromium, "{method} is CDP (Chromium only)");
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let _ = self.tx.send(Message::Text(msg.to_string().into()));
    }

    pub async fn shutdown(mut self) {
        match (self.engine, &self.classic) {
            (Engine::Chromium, _) => drop(self.call(None, "Browser.close", json!({})).await),
            (Engine::WebKit, Some(c)) => c.shutdown().await,
            _ => drop(self.raw(None, "browser.close", json!({})).await),
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        let _ = self.child.kill().await;
    }
}

/// A JSON-over-WebSocket protocol connection (CDP, WebDriver BiDi): commands out, answers
/// matched by `id`, everything else broadcast as events.
async fn json_socket(ws_url: &str) -> (mpsc::UnboundedSender<Message>, Pending, broadcast::Sender<Value>) {
    let (ws, _) = tokio_tungstenite::connect_async(ws_url).await.expect("connect to the browser's WebSocket");
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if sink.send(m).await.is_err() {
                break;
            }
        }
    });
    let pending: Pending = Arc::default();
    let (events, _) = broadcast::channel(4096);
    let (p, ev) = (pending.clone(), events.clone());
    tokio::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            let Message::Text(text) = msg else { continue };
            let Ok(v) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            if let Some(id) = v.get("id").and_then(Value::as_u64) {
                if let Some(tx) = p.lock().expect("pending lock").remove(&id) {
                    let r = match v.get("error") {
                        // CDP: an object; BiDi: a code, with the text in `message`.
                        Some(Value::String(_)) => Err(v.clone()),
                        Some(e) => Err(e.clone()),
                        None => Ok(v.get("result").cloned().unwrap_or(Value::Null)),
                    };
                    let _ = tx.send(r);
                }
            } else {
                let _ = ev.send(v);
            }
        }
    });
    (tx, pending, events)
}
