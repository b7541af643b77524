//! The SharedWorker shell: feeds MessagePort messages, WebSocket frames, Web Lock releases
//! and one timer into the sans-IO [`Switchboard`], and carries its outputs out.
//! Invariant: nothing here trusts its input; a bad message is an error value handed to the
//! core, which answers it. A panic would kill every tab's connection.

use js_sys::{ArrayBuffer, Function, Object, Promise, Reflect, Uint8Array};
use std::cell::RefCell;
use std::collections::BTreeMap;
use switchboard_shared::hub::{HubConfig, HubId, Millis, Output, Switchboard, TabKey};
use switchboard_shared::port;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{
    BinaryType, IdbDatabase, IdbRequest, IdbTransactionMode, MessageChannel, MessageEvent, MessagePort, WebSocket,
    WorkerGlobalScope,
};

/// The Web Lock the hub holds for its whole life: pages wait on it to notice its death.
/// Versioned like the worker's name.
const HUB_LOCK: &str = "switchboard-hub-v1";
const DB_NAME: &str = "switchboard";
const STORE: &str = "queue";

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks` (Web Locks API), bound by hand: web-sys only has it behind its
    /// unstable-API cfg.
    type LockManager;
    #[wasm_bindgen(method, catch)]
    fn request(this: &LockManager, name: &str, callback: &Function) -> Result<Promise, JsValue>;

    /// `TextEncoder`, taking the JS string as it is: wasm-bindgen's own string passing copies
    /// ASCII one character at a time in JS, which made 16 KB frames cost ~0.2 ms each.
    type Utf8;
    #[wasm_bindgen(constructor, js_class = "TextEncoder")]
    fn new() -> Utf8;
    #[wasm_bindgen(method, js_class = "TextEncoder", js_name = encode)]
    fn encode(this: &Utf8, text: &JsValue) -> Uint8Array;
}

thread_local! {
    static UTF8: Utf8 = Utf8::new();
}

/// A WebSocket text frame as UTF-8, copied into wasm memory by the browser.
fn frame_text(data: &JsValue) -> String {
    let bytes = UTF8.with(|e| e.encode(data).to_vec());
    // TextEncoder output is UTF-8, so this never takes the lossy path.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Messages to tabs, coalesced while the hub is busy. The first message after a quiet spell
/// goes out at once and opens a window that lasts until the next task of this worker; what
/// the hub posts meanwhile waits and leaves together, one postMessage per tab (the bytes of
/// several port messages back to back). With 20 tabs on 2 cores a postMessage cost ~60 µs
/// and was the hub's bottleneck under load.
struct Mail {
    pending: BTreeMap<TabKey, Vec<u8>>,
    window: bool,
    /// Schedules the window's end; without it every message goes out at once.
    channel: Option<MessageChannel>,
    _on_flush: Closure<dyn FnMut(JsValue)>,
}

/// A batch for one tab leaves early once it is this large.
const MAX_BATCH: usize = 1 << 20;

impl Mail {
    fn new() -> Mail {
        let channel = MessageChannel::new().ok();
        let on_flush = Closure::<dyn FnMut(JsValue)>::new(|_| with_state(|s, _| s.flush_mail()));
        if let Some(c) = &channel {
            c.port1().set_onmessage(Some(on_flush.as_ref().unchecked_ref()));
        }
        Mail { pending: BTreeMap::new(), window: false, channel, _on_flush: on_flush }
    }

    fn open_window(&mut self) {
        if let (false, Some(c)) = (self.window, &self.channel) {
            self.window = c.port2().post_message(&JsValue::NULL).is_ok();
        }
    }
}

fn post(port: &MessagePort, tab: TabKey, bytes: &[u8]) {
    // A fresh copy per post, handed over (transferred) rather than cloned again.
    let copy = Uint8Array::from(bytes);
    if let Err(e) = port.post_message_with_transferable(&copy, &js_sys::Array::of1(&copy.buffer())) {
        log(&format!("post to tab {tab} failed: {e:?}"));
    }
}

struct Port {
    port: MessagePort,
    _onmessage: Closure<dyn FnMut(MessageEvent)>,
}

impl Drop for Port {
    fn drop(&mut self) {
        self.port.set_onmessage(None);
        self.port.close();
    }
}

struct Socket {
    ws: WebSocket,
    _handlers: [Closure<dyn FnMut(JsValue)>; 3],
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
    }
}

type Callback = Closure<dyn FnMut(JsValue)>;
type EventCallback = Closure<dyn FnMut(web_sys::Event)>;

/// A storage operation waiting for the database or for its transaction.
enum StoreOp {
    Put(u64, Vec<u8>),
    Delete(u64),
}

struct State {
    sb: Switchboard,
    /// False until the hub lock is held and storage is read: port messages wait.
    ready: bool,
    backlog: Vec<(TabKey, Result<Vec<u8>, String>)>,
    db: Option<IdbDatabase>,
    /// Operations not yet handed to a transaction (the database is still opening).
    unwritten: Vec<StoreOp>,
    /// Open write transactions: id -> (keys written, completion callback).
    transactions: BTreeMap<u32, (Vec<u64>, EventCallback)>,
    next_tx: u32,
    _network: Option<[Callback; 2]>,
    /// Service worker: resolved once nothing stored is left undelivered.
    flush_waiter: Option<Function>,
    ports: BTreeMap<TabKey, Port>,
    /// Lock callbacks waiting for a tab to release its Web Lock, by tab.
    locks: BTreeMap<TabKey, Closure<dyn FnMut(JsValue)>>,
    sockets: BTreeMap<HubId, Socket>,
    next_tab: TabKey,
    timer: Option<(i32, Millis)>,
    on_timer: Closure<dyn FnMut()>,
    mail: Mail,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
    /// Set when this code runs as the service worker (no ports, no hub lock).
    static SERVICE_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn scope() -> WorkerGlobalScope {
    js_sys::global().unchecked_into()
}

/// `navigator.locks`, or undefined where the Web Locks API is missing.
fn lock_manager() -> JsValue {
    Reflect::get(&scope().navigator(), &JsValue::from_str("locks")).unwrap_or(JsValue::UNDEFINED)
}

fn now() -> Millis {
    scope().performance().map(|p| p.now() as Millis).unwrap_or(0)
}

/// A readable text for a JS error value (DOMException, Error, anything).
fn describe(e: JsValue) -> String {
    match gloo_utils::errors::JsError::try_from(e) {
        Ok(err) => err.to_string(),
        Err(other) => format!("{other}"),
    }
}

fn log(msg: &str) {
    web_sys::console::warn_1(&JsValue::from_str(&format!("[switchboard hub] {msg}")));
}

/// Runs `f` on the worker state, then carries out everything the core asked for.
fn with_state(f: impl FnOnce(&mut State, Millis)) {
    STATE.with(|cell| {
        let Ok(mut guard) = cell.try_borrow_mut() else {
            // Only reachable if a browser API called back synchronously into us.
            log("re-entrant event ignored");
            return;
        };
        let state = guard.get_or_insert_with(|| {
            if !SERVICE_WORKER.with(|m| m.get()) {
                wasm_bindgen_futures::spawn_local(start_up());
            }
            State::new()
        });
        f(state, now());
        state.drive();
    });
}

#[wasm_bindgen(start)]
fn main() {
    console_error_panic_hook::set_once();
}

/// Hands a tab's MessagePort to the hub. The bootstrap script calls this for every
/// `connect` event, including those that arrived before the wasm was ready.
#[wasm_bindgen]
pub fn attach(port: MessagePort) {
    with_state(|s, _| {
        let tab = s.next_tab;
        s.next_tab = s.next_tab.wrapping_add(1);
        let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            let data = e.data();
            let msg = if let Some(bytes) = data.dyn_ref::<Uint8Array>() {
                Ok(bytes.to_vec())
            } else if let Some(buf) = data.dyn_ref::<ArrayBuffer>() {
                Ok(Uint8Array::new(buf).to_vec())
            } else {
                Err(data.js_typeof().as_string().unwrap_or_default())
            };
            with_state(|s, now| {
                if s.ready {
                    s.port_message(tab, msg, now);
                } else {
                    s.backlog.push((tab, msg));
                }
            });
        });
        port.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
        port.start();
        s.ports.insert(tab, Port { port, _onmessage: onmessage });
    });
}

impl State {
    fn new() -> Self {
        let seed = (js_sys::Math::random() * 9.007_199_254_740_991e15) as u64;
        let mut sb = Switchboard::new(HubConfig::default(), seed);
        sb.set_wall_clock(js_sys::Date::now() as u64, now());
        if !scope().navigator().on_line() {
            sb.handle_network(false, now());
        }
        let online = Closure::<dyn FnMut(JsValue)>::new(|_| with_state(|s, now| s.sb.handle_network(true, now)));
        let offline = Closure::<dyn FnMut(JsValue)>::new(|_| with_state(|s, now| s.sb.handle_network(false, now)));
        scope().set_ononline(Some(online.as_ref().unchecked_ref()));
        scope().set_onoffline(Some(offline.as_ref().unchecked_ref()));
        State {
            ready: false,
            backlog: Vec::new(),
            db: None,
            unwritten: Vec::new(),
            transactions: BTreeMap::new(),
            next_tx: 0,
            _network: Some([online, offline]),
            flush_waiter: None,
            sb,
            ports: BTreeMap::new(),
            locks: BTreeMap::new(),
            sockets: BTreeMap::new(),
            next_tab: 1,
            timer: None,
            on_timer: Closure::new(|| {
                with_state(|s, now| {
                    s.timer = None;
                    s.sb.handle_timeout(now);
                })
            }),
            mail: Mail::new(),
        }
    }

    fn port_message(&mut self, tab: TabKey, msg: Result<Vec<u8>, String>, now: Millis) {
        match msg {
            Ok(bytes) => self.sb.handle_port_message(tab, &bytes, now),
            Err(what) => self.sb.handle_port_garbage(tab, &what),
        }
    }

    /// Sends `bytes` to `tab` now, or with the next batch while a window is open.
    fn mail(&mut self, tab: TabKey, bytes: &[u8]) {
        let Some(p) = self.ports.get(&tab) else { return };
        if !self.mail.window {
            post(&p.port, tab, bytes);
            self.mail.open_window();
            return;
        }
        let batch = self.mail.pending.entry(tab).or_default();
        batch.extend_from_slice(bytes);
        if batch.len() >= MAX_BATCH {
            post(&p.port, tab, &std::mem::take(batch));
        }
    }

    /// The window's task: sends every batch; the window stays open while batches form.
    fn flush_mail(&mut self) {
        self.mail.window = false;
        let pending = std::mem::take(&mut self.mail.pending);
        for (tab, batch) in pending.iter().filter(|(_, b)| !b.is_empty()) {
            if let Some(p) = self.ports.get(tab) {
                post(&p.port, *tab, batch);
            }
        }
        if pending.values().any(|b| !b.is_empty()) {
            self.mail.open_window();
        }
    }

    fn drive(&mut self) {
        while let Some(out) = self.sb.poll_output() {
            match out {
                Output::Open { hub, conn, url } => self.open(hub, conn, &url),
                Output::SendText { hub, text } => {
                    if let Some(s) = self.sockets.get(&hub) {
                        if let Err(e) = s.ws.send_with_str(&text) {
                            log(&format!("send failed: {e:?}"));
                        }
                    }
                }
                Output::SendBinary { hub, bytes } => {
                    if let Some(s) = self.sockets.get(&hub) {
                        if let Err(e) = s.ws.send_with_u8_array(&bytes) {
                            log(&format!("send failed: {e:?}"));
                        }
                    }
                }
                Output::Close { hub } => {
                    self.sockets.remove(&hub);
                }
                Output::Post { tabs, msg } => {
                    let bytes = port::encode(&msg);
                    for tab in tabs {
                        self.mail(tab, &bytes);
                    }
                }
                Output::Watch { tab, lock } => self.watch(tab, &lock),
                Output::Persist { key, record } => self.unwritten.push(StoreOp::Put(key, record)),
                Output::Unpersist { key } => self.unwritten.push(StoreOp::Delete(key)),
                Output::Http { hub, id, post, url, body, bearer } => wasm_bindgen_futures::spawn_local(async move {
                    let (status, text) = fetch(post, &url, body.as_deref(), bearer).await;
                    with_state(|s, now| s.sb.handle_http(hub, id, status, &text, now));
                }),
                Output::Log(line) => log(&line),
            }
        }
        self.write_store();
        self.arm_timer();
        if self.flush_waiter.is_some() && self.sb.undelivered() == 0 {
            if let Some(done) = self.flush_waiter.take() {
                let _ = done.call0(&JsValue::NULL);
            }
        }
    }

    /// Hands the pending storage operations to one IndexedDB transaction; its completion
    /// tells the core which records are safe.
    fn write_store(&mut self) {
        if self.unwritten.is_empty() {
            return;
        }
        let Some(db) = self.db.as_ref() else { return };
        let ops = std::mem::take(&mut self.unwritten);
        let tx = match db.transaction_with_str_and_mode(STORE, IdbTransactionMode::Readwrite) {
            Ok(tx) => tx,
            Err(e) => {
                return log(&format!("storage unavailable, {} operations not written: {}", ops.len(), describe(e)))
            }
        };
        let store = match tx.object_store(STORE) {
            Ok(st) => st,
            Err(e) => return log(&format!("storage unavailable: {}", describe(e))),
        };
        let mut written = Vec::new();
        for op in ops {
            let r = match op {
                StoreOp::Put(key, bytes) => {
                    written.push(key);
                    store.put_with_key(&Uint8Array::from(&bytes[..]), &JsValue::from_f64(key as f64)).map(drop)
                }
                StoreOp::Delete(key) => store.delete(&JsValue::from_f64(key as f64)).map(drop),
            };
            if let Err(e) = r {
                log(&format!("storage operation failed: {}", describe(e)));
            }
        }
        let id = self.next_tx;
        self.next_tx = self.next_tx.wrapping_add(1);
        let done = Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
            let ok = e.type_() == "complete";
            with_state(|s, _| {
                if let Some((keys, _closure)) = s.transactions.remove(&id) {
                    if ok {
                        s.sb.handle_persisted(&keys);
                    } else {
                        // The pages keep what was not confirmed and resend it to the next hub.
                        log(&format!("storage transaction failed; {} records not confirmed", keys.len()));
                    }
                }
            })
        });
        tx.set_oncomplete(Some(done.as_ref().unchecked_ref()));
        tx.set_onerror(Some(done.as_ref().unchecked_ref()));
        tx.set_onabort(Some(done.as_ref().unchecked_ref()));
        self.transactions.insert(id, (written, done));
    }

    fn open(&mut self, hub: HubId, conn: u32, url: &str) {
        self.sockets.remove(&hub);
        let ws = match WebSocket::new(url) {
            Ok(ws) => ws,
            Err(e) => {
                log(&format!("cannot open {url}: {e:?}"));
                // Reported as a failed attempt; the core schedules the retry.
                self.sb.handle_socket_closed(hub, conn, now());
                return;
            }
        };
        ws.set_binary_type(BinaryType::Arraybuffer);
        let on_open =
            Closure::<dyn FnMut(JsValue)>::new(move |_| with_state(|s, now| s.sb.handle_socket_open(hub, conn, now)));
        let on_message = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
            let data = e.unchecked_into::<MessageEvent>().data();
            with_state(|s, now| {
                if data.is_string() {
                    s.sb.handle_socket_text(hub, conn, &frame_text(&data), now);
                } else if let Some(buf) = data.dyn_ref::<ArrayBuffer>() {
                    s.sb.handle_socket_binary(hub, conn, &Uint8Array::new(buf).to_vec(), now);
                }
            })
        });
        let on_close =
            Closure::<dyn FnMut(JsValue)>::new(move |_| with_state(|s, now| s.sb.handle_socket_closed(hub, conn, now)));
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        self.sockets.insert(hub, Socket { ws, _handlers: [on_open, on_message, on_close] });
    }

    /// Waits on the tab's Web Lock: the browser grants it to us only once the tab is gone.
    fn watch(&mut self, tab: TabKey, lock: &str) {
        if self.locks.contains_key(&tab) {
            return;
        }
        let locks = lock_manager();
        if locks.is_undefined() {
            log("Web Locks unavailable: tabs that vanish without pagehide are noticed only on their next message");
            return;
        }
        let granted = Closure::<dyn FnMut(JsValue)>::new(move |_lock| {
            with_state(|s, now| {
                s.sb.handle_tab_gone(tab, now);
                s.ports.remove(&tab);
                s.mail.pending.remove(&tab);
                // Dropping our own closure while it runs is deferred by wasm-bindgen.
                s.locks.remove(&tab);
            })
        });
        match locks.unchecked_into::<LockManager>().request(lock, granted.as_ref().unchecked_ref()) {
            Ok(_) => {
                self.locks.insert(tab, granted);
            }
            Err(e) => log(&format!("cannot watch tab {tab}: {e:?}")),
        }
    }

    fn arm_timer(&mut self) {
        let want = self.sb.poll_timeout();
        if self.timer.map(|(_, at)| at) == want {
            return;
        }
        let scope = scope();
        if let Some((handle, _)) = self.timer.take() {
            scope.clear_timeout_with_handle(handle);
        }
        if let Some(at) = want {
            let delay = at.saturating_sub(now()).min(i32::MAX as u64) as i32;
            match scope
                .set_timeout_with_callback_and_timeout_and_arguments_0(self.on_timer.as_ref().unchecked_ref(), delay)
            {
                Ok(handle) => self.timer = Some((handle, at)),
                Err(e) => log(&format!("setTimeout failed: {e:?}")),
            }
        }
    }
}

/// A snapshot for debugging and tests: hubs and their tabs, as a plain object.
#[wasm_bindgen(js_name = debugState)]
pub fn debug_state() -> JsValue {
    let out = Object::new();
    STATE.with(|cell| {
        if let Ok(guard) = cell.try_borrow() {
            if let Some(s) = guard.as_ref() {
                let _ = Reflect::set(&out, &"hubs".into(), &JsValue::from(s.sb.hub_count() as u32));
                let _ = Reflect::set(&out, &"ports".into(), &JsValue::from(s.ports.len() as u32));
                let _ = Reflect::set(&out, &"sockets".into(), &JsValue::from(s.sockets.len() as u32));
            }
        }
    });
    out.into()
}

/// Start-up: hold the hub lock, open storage and read the queue, then take port messages.
async fn start_up() {
    let locks = lock_manager();
    if !locks.is_undefined() {
        let held = Promise::new(&mut |acquired, _| {
            let granted = acquired.clone();
            let hold = Closure::once_into_js(move |_lock: JsValue| -> JsValue {
                let _ = granted.call0(&JsValue::NULL);
                Promise::new(&mut |_, _| {}).into()
            });
            if let Err(e) = locks.unchecked_ref::<LockManager>().request(HUB_LOCK, hold.unchecked_ref()) {
                log(&format!("cannot take the hub lock: {}", describe(e)));
                let _ = acquired.call0(&JsValue::NULL);
            }
        });
        let _ = wasm_bindgen_futures::JsFuture::from(held).await;
    }
    let (db, records) = match open_store().await {
        Ok(x) => x,
        Err(e) => {
            log(&format!("IndexedDB unavailable, the offline queue lives in memory only: {}", describe(e)));
            (None, Vec::new())
        }
    };
    with_state(move |s, now| {
        s.db = db;
        s.sb.handle_restore(records, now);
        s.ready = true;
        for (tab, msg) in std::mem::take(&mut s.backlog) {
            s.port_message(tab, msg, now);
        }
    });
}

/// Resolves with the result of an IndexedDB request.
fn request_done(req: &IdbRequest) -> wasm_bindgen_futures::JsFuture {
    let req2 = req.clone();
    Promise::new(&mut |resolve, reject| {
        let r = req2.clone();
        let ok = Closure::once_into_js(move |_e: JsValue| {
            let _ = resolve.call1(&JsValue::NULL, &r.result().unwrap_or(JsValue::UNDEFINED));
        });
        let fail = Closure::once_into_js(move |e: JsValue| {
            let _ = reject.call1(&JsValue::NULL, &e);
        });
        req2.set_onsuccess(Some(ok.unchecked_ref()));
        req2.set_onerror(Some(fail.unchecked_ref()));
    })
    .into()
}

async fn open_store() -> Result<(Option<IdbDatabase>, Vec<(u64, Vec<u8>)>), JsValue> {
    let factory = scope().indexed_db()?.ok_or_else(|| JsValue::from_str("no indexedDB"))?;
    let open = factory.open_with_u32(DB_NAME, 1)?;
    let upgrade = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        let db = Reflect::get(&e, &"target".into())
            .and_then(|t| Reflect::get(&t, &"result".into()))
            .map(|d| d.unchecked_into::<IdbDatabase>());
        if let Ok(db) = db {
            if !db.object_store_names().contains(STORE) {
                if let Err(e) = db.create_object_store(STORE) {
                    log(&format!("cannot create the queue store: {}", describe(e)));
                }
            }
        }
    });
    open.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
    let db: IdbDatabase = request_done(&open).await?.unchecked_into();
    drop(upgrade);
    let tx = db.transaction_with_str(STORE)?;
    let store = tx.object_store(STORE)?;
    let keys = request_done(&store.get_all_keys()?).await?;
    let values = request_done(&store.get_all()?).await?;
    let (keys, values): (js_sys::Array, js_sys::Array) = (keys.unchecked_into(), values.unchecked_into());
    let mut records = Vec::new();
    for (k, v) in keys.iter().zip(values.iter()) {
        match (k.as_f64(), v.dyn_ref::<Uint8Array>()) {
            (Some(k), Some(bytes)) if k >= 0.0 => records.push((k as u64, bytes.to_vec())),
            // Anything else in our store is not ours to read; the core deletes unreadable records.
            (Some(k), _) if k >= 0.0 => records.push((k as u64, Vec::new())),
            _ => log("ignored a stored record with a foreign key"),
        }
    }
    Ok((Some(db), records))
}

/// An HTTP request with the browser's cookies (same-site) and the CSRF header; returns the
/// status (0 for a network error) and the body text.
async fn fetch(post: bool, url: &str, body: Option<&str>, bearer: bool) -> (u16, String) {
    let init = web_sys::RequestInit::new();
    init.set_method(if post { "POST" } else { "GET" });
    init.set_credentials(web_sys::RequestCredentials::Include);
    if let Ok(headers) = web_sys::Headers::new() {
        let _ = headers.set("x-switchboard", "1");
        if bearer {
            let _ = headers.set("x-switchboard-mode", "bearer");
        }
        if body.is_some() {
            let _ = headers.set("content-type", "application/json");
        }
        init.set_headers(&headers);
    }
    if let Some(b) = body {
        init.set_body(&JsValue::from_str(b));
    }
    let res = match wasm_bindgen_futures::JsFuture::from(scope().fetch_with_str_and_init(url, &init)).await {
        Ok(r) => r.unchecked_into::<web_sys::Response>(),
        Err(e) => {
            log(&format!("{url}: {}", describe(e)));
            return (0, String::new());
        }
    };
    let text = match res.text() {
        Ok(p) => wasm_bindgen_futures::JsFuture::from(p).await.ok().and_then(|t| t.as_string()).unwrap_or_default(),
        Err(_) => String::new(),
    };
    (res.status(), text)
}

/// The service-worker role (`switchboard-sw.js`): `sync` delivers the stored queue when no
/// tab (and so no hub) is open; `periodicsync` refreshes the sign-in. Resolves when done.
#[wasm_bindgen(js_name = serviceWorker)]
pub fn service_worker(event: String) -> Promise {
    SERVICE_WORKER.with(|m| m.set(true));
    wasm_bindgen_futures::future_to_promise(async move {
        match event.as_str() {
            "sync" => flush_from_service_worker().await,
            "periodicsync" => {
                let origin = scope().location().origin();
                let (status, _) = fetch(true, &format!("{origin}/auth/refresh"), None, false).await;
                log(&format!("background refresh: HTTP {status}"));
                Ok(JsValue::from(status))
            }
            other => Err(JsValue::from_str(&format!("switchboard service worker: unknown event {other:?}"))),
        }
    })
}

/// Whether a hub (SharedWorker) is alive: it holds its lifetime lock.
async fn hub_alive() -> bool {
    let locks = lock_manager();
    let Ok(query) = Reflect::get(&locks, &"query".into()).and_then(|f| f.dyn_into::<Function>()) else { return false };
    let Ok(p) = query.call0(&locks).and_then(|p| p.dyn_into::<Promise>()) else { return false };
    let Ok(snapshot) = wasm_bindgen_futures::JsFuture::from(p).await else { return false };
    let held: js_sys::Array = Reflect::get(&snapshot, &"held".into()).map(|h| h.unchecked_into()).unwrap_or_default();
    held.iter().any(|l| Reflect::get(&l, &"name".into()).ok().and_then(|n| n.as_string()).as_deref() == Some(HUB_LOCK))
}

async fn flush_from_service_worker() -> Result<JsValue, JsValue> {
    if hub_alive().await {
        return Ok(JsValue::from_str("a hub is running and delivers the queue itself"));
    }
    let (db, records) = open_store().await?;
    let count = records.len();
    let mut setup = Some((db, records));
    let done = Promise::new(&mut |resolve, _| {
        if let Some((db, records)) = setup.take() {
            with_state(move |s, now| {
                s.db = db;
                s.ready = true;
                s.flush_waiter = Some(resolve);
                s.sb.handle_restore(records, now);
                s.sb.handle_flush(now);
            });
        }
    });
    // A service worker event may not last for ever: give up after 25 s (the queue stays stored).
    let timeout = Promise::new(&mut |resolve, _| {
        let _ = scope().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 25_000);
    });
    wasm_bindgen_futures::JsFuture::from(Promise::race(&js_sys::Array::of2(&done, &timeout))).await?;
    let left = STATE.with(|c| c.try_borrow().ok().and_then(|s| s.as_ref().map(|s| s.sb.undelivered())).unwrap_or(0));
    log(&format!("service worker sync: {} stored emits, {left} left undelivered", count));
    Ok(JsValue::from(left as u32))
}
