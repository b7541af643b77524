//! The SharedWorker shell: feeds MessagePort messages, WebSocket frames, Web Lock releases,
//! storage completions and one timer into the sans-IO [`Switchboard`], and carries its
//! outputs out. One module per platform concern: [`mail`] (ports, batched posts),
//! [`socket`], [`storage`] (IndexedDB), [`locks`], [`http`], [`service_worker`], [`lease`]
//! (leader-tab mode), [`adopt`] (per-tab storage).
//! Invariant: nothing here trusts its input; a bad message is an error value handed to the
//! core, which answers it. A panic would kill every tab's connection.

mod adopt;
mod http;
mod lease;
mod locks;
mod mail;
mod service_worker;
mod socket;
mod storage;

use js_sys::{ArrayBuffer, Function, Object, Reflect, Uint8Array};
use std::cell::{Cell, RefCell};
use switchboard_shared::hub::{HubConfig, HubId, Millis, Output, Switchboard, TabKey};
use switchboard_shared::vecmap::VecMap;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, MessagePort, WorkerGlobalScope};

type Callback = Closure<dyn FnMut(JsValue)>;

pub(crate) struct State {
    sb: Switchboard,
    /// False until the hub lock is held and storage is read: port messages wait.
    ready: bool,
    backlog: Vec<(TabKey, Result<Vec<u8>, String>)>,
    storage: storage::Storage,
    _network: Option<[Callback; 2]>,
    /// Service worker: resolved once nothing stored is left undelivered.
    flush_waiter: Option<Function>,
    mail: mail::Mail,
    locks: locks::TabWatch,
    sockets: VecMap<HubId, socket::Socket>,
    next_tab: TabKey,
    timer: Option<(i32, Millis)>,
    on_timer: Closure<dyn FnMut()>,
}

thread_local! {
    pub(crate) static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
    static MODE: Cell<Mode> = const { Cell::new(Mode::Shared) };
    /// How far a test moved the hub's clock ahead of `performance.now()` (`advanceClock`).
    static AHEAD: Cell<f64> = const { Cell::new(0.0) };
}

/// How this worker serves tabs (`client.mode`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A SharedWorker: every tab of the origin on its own port.
    Shared,
    /// The leader tab's dedicated worker: every tab relayed over a BroadcastChannel by the
    /// bootstrap; it steals the hub lock from a frozen predecessor.
    Leader,
    /// One tab's own dedicated worker (no Web Locks): its queue in a database of its own,
    /// adopted by another per-tab hub once it goes quiet ([`adopt`]).
    PerTab,
}

/// Called by a dedicated worker's bootstrap before any port: `leader-tab` or `per-tab`.
#[wasm_bindgen(js_name = setMode)]
pub fn set_mode(mode: &str) {
    let mode = match mode {
        "leader-tab" => Mode::Leader,
        "per-tab" => Mode::PerTab,
        _ => Mode::Shared,
    };
    MODE.with(|m| m.set(mode));
}

fn scope() -> WorkerGlobalScope {
    js_sys::global().unchecked_into()
}

/// A random number up to 2^53 (`Math.random`; no crypto needed: seeds and names).
fn random_u64() -> u64 {
    (js_sys::Math::random() * 9.007_199_254_740_991e15) as u64
}

fn now() -> Millis {
    scope().performance().map(|p| (p.now() + AHEAD.with(Cell::get)) as Millis).unwrap_or(0)
}

/// A readable text for a JS error value (DOMException, Error, anything).
fn describe(e: JsValue) -> String {
    match gloo_utils::errors::JsError::try_from(e) {
        Ok(err) => err.to_string(),
        Err(other) => format!("{other}"),
    }
}

/// A hub log line in the worker's console: trouble as a warning, routine lines as info.
fn log(msg: &str) {
    let line = JsValue::from_str(&format!("[switchboard hub] {msg}"));
    match switchboard_shared::hub::log_level(msg) {
        "warn" => web_sys::console::warn_1(&line),
        _ => web_sys::console::info_1(&line),
    }
}

/// Runs `f` on the worker state, then carries out everything the core asked for.
fn with_state(f: impl FnOnce(&mut State, Millis)) {
    if lease::fenced(now()) {
        return;
    }
    STATE.with(|cell| {
        let Ok(mut guard) = cell.try_borrow_mut() else {
            // Only reachable if a browser API called back synchronously into us.
            log("re-entrant event ignored");
            return;
        };
        let state = guard.get_or_insert_with(|| {
            if !service_worker::active() {
                wasm_bindgen_futures::spawn_local(start_up());
            }
            State::new()
        });
        f(state, now());
        state.drive();
        lease::touch(now());
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
        s.mail.add(tab, mail::Port::new(port, onmessage));
        // A leader-tab hub opens a tab's port for the tab's first message to its epoch,
        // which is its Hello (a tab attaches again when it hears a new epoch): telling it
        // `NotAttached` as well would make it attach twice.
        if MODE.with(Cell::get) != Mode::Leader {
            s.sb.handle_port_opened(tab);
        }
    });
}

/// Test hook for a browser re-running the worker under its open ports (WebKit bug 318873):
/// the hub's state is dropped (its sockets closed) and started again from storage, on the
/// same ports; each is told to attach again (`NotAttached`).
#[wasm_bindgen(js_name = simulateRerun)]
pub fn simulate_rerun() {
    with_state(|s, _| {
        log("simulated re-run: the hub starts again under its ports");
        let tabs = s.mail.tabs();
        s.sockets.clear();
        s.locks = locks::TabWatch::default();
        s.sb = State::new_switchboard();
        s.ready = false;
        for tab in tabs {
            s.sb.handle_port_opened(tab);
        }
        wasm_bindgen_futures::spawn_local(restore());
    });
}

/// Test hook, the virtual clock: the hub's clock moves `ms` ahead and what fell due runs now,
/// so a test waits out one of the hub's own windows (a refresh that just finished satisfies
/// new askers for a second) without sleeping. Only forward: the hub's time is monotonic.
#[wasm_bindgen(js_name = advanceClock)]
pub fn advance_clock(ms: f64) {
    if ms.is_finite() && ms > 0.0 {
        AHEAD.with(|a| a.set(a.get() + ms));
    }
    with_state(|s, now| s.sb.handle_timeout(now));
}

impl State {
    fn new_switchboard() -> Switchboard {
        let seed = random_u64();
        let mut sb = Switchboard::new(HubConfig::default(), seed);
        sb.set_wall_clock(js_sys::Date::now() as u64, now());
        if !scope().navigator().on_line() {
            sb.handle_network(false, now());
        }
        sb
    }

    fn new() -> Self {
        let sb = Self::new_switchboard();
        let online = Closure::<dyn FnMut(JsValue)>::new(|_| with_state(|s, now| s.sb.handle_network(true, now)));
        let offline = Closure::<dyn FnMut(JsValue)>::new(|_| with_state(|s, now| s.sb.handle_network(false, now)));
        scope().set_ononline(Some(online.as_ref().unchecked_ref()));
        scope().set_onoffline(Some(offline.as_ref().unchecked_ref()));
        State {
            sb,
            ready: false,
            backlog: Vec::new(),
            storage: storage::Storage::default(),
            _network: Some([online, offline]),
            flush_waiter: None,
            mail: mail::Mail::new(),
            locks: locks::TabWatch::default(),
            sockets: VecMap::new(),
            next_tab: 1,
            timer: None,
            on_timer: Closure::new(|| {
                with_state(|s, now| {
                    s.timer = None;
                    s.sb.handle_timeout(now);
                })
            }),
        }
    }

    fn port_message(&mut self, tab: TabKey, msg: Result<Vec<u8>, String>, now: Millis) {
        match msg {
            Ok(bytes) => self.sb.handle_port_message(tab, &bytes, now),
            Err(what) => self.sb.handle_port_garbage(tab, &what),
        }
    }

    fn drive(&mut self) {
        while let Some(out) = self.sb.poll_output() {
            match out {
                Output::Open { hub, conn, url } => {
                    self.sockets.remove(&hub);
                    if let Some(socket) = socket::Socket::open(hub, conn, &url, &mut self.sb) {
                        self.sockets.insert(hub, socket);
                    }
                }
                Output::SendText { hub, text } => self.sockets.get(&hub).iter().for_each(|s| s.send_text(&text)),
                Output::SendBinary { hub, bytes } => self.sockets.get(&hub).iter().for_each(|s| s.send_binary(&bytes)),
                Output::Close { hub } => {
                    self.sockets.remove(&hub);
                }
                Output::Post { tabs, msg } => {
                    let bytes = switchboard_shared::wire::encode_from_hub(&msg);
                    for tab in tabs {
                        self.mail.send(tab, &bytes);
                    }
                }
                // A per-tab hub's page holds no lock (it has no Web Locks): nothing to watch.
                Output::Watch { tab, lock } if MODE.with(Cell::get) != Mode::PerTab => self.locks.watch(tab, &lock),
                Output::Watch { .. } => {}
                Output::Persist { key, record } => self.storage.put(key, record),
                Output::Unpersist { key } => self.storage.delete(key),
                Output::Http { hub, id, post, url, body, bearer, token, trace } => {
                    wasm_bindgen_futures::spawn_local(async move {
                        let (status, text) =
                            http::fetch(post, &url, body.as_deref(), bearer, token.as_deref(), trace.as_deref()).await;
                        with_state(|s, now| s.sb.handle_http(hub, id, status, &text, now));
                    })
                }
                Output::Log(line) => log(&line),
            }
        }
        self.storage.write();
        self.arm_timer();
        if self.flush_waiter.is_some() && self.sb.undelivered() == 0 {
            if let Some(done) = self.flush_waiter.take() {
                let _ = done.call0(&JsValue::NULL);
            }
        }
    }

    /// The one timer, re-armed from the core's next deadline.
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
                let _ = Reflect::set(&out, &"ports".into(), &JsValue::from(s.mail.ports() as u32));
                let _ = Reflect::set(&out, &"sockets".into(), &JsValue::from(s.sockets.len() as u32));
            }
        }
    });
    out.into()
}

/// Start-up: hold the hub lock, open storage and read the queue, then take port messages.
async fn start_up() {
    let mode = MODE.with(Cell::get);
    if mode != Mode::PerTab {
        locks::hold_hub_lock(mode == Mode::Leader).await;
    }
    restore().await;
}

/// Opens storage (a `per-tab` hub's own, new database), reads the queue into the hub, then
/// lets port messages in.
async fn restore() {
    let opened = match MODE.with(Cell::get) {
        Mode::PerTab => adopt::open_own().await.map(|db| (Some(db), Vec::new())),
        _ => storage::open().await,
    };
    let (db, records) = match opened {
        Ok(x) => x,
        Err(e) => {
            log(&format!("IndexedDB unavailable, the offline queue lives in memory only: {}", describe(e)));
            (None, Vec::new())
        }
    };
    with_state(move |s, now| {
        s.storage.set_db(db);
        s.sb.handle_restore(records, now);
        s.ready = true;
        for (tab, msg) in std::mem::take(&mut s.backlog) {
            s.port_message(tab, msg, now);
        }
    });
}
