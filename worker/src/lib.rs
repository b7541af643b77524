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
use web_sys::{BinaryType, MessageEvent, MessagePort, WebSocket, WorkerGlobalScope};

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks` (Web Locks API), bound by hand: web-sys only has it behind its
    /// unstable-API cfg.
    type LockManager;
    #[wasm_bindgen(method, catch)]
    fn request(this: &LockManager, name: &str, callback: &Function) -> Result<Promise, JsValue>;
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

struct State {
    sb: Switchboard,
    ports: BTreeMap<TabKey, Port>,
    /// Lock callbacks waiting for a tab to release its Web Lock, by tab.
    locks: BTreeMap<TabKey, Closure<dyn FnMut(JsValue)>>,
    sockets: BTreeMap<HubId, Socket>,
    next_tab: TabKey,
    timer: Option<(i32, Millis)>,
    on_timer: Closure<dyn FnMut()>,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn scope() -> WorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn now() -> Millis {
    scope().performance().map(|p| p.now() as Millis).unwrap_or(0)
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
        let state = guard.get_or_insert_with(State::new);
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
            with_state(|s, now| {
                if let Some(bytes) = data.dyn_ref::<Uint8Array>() {
                    s.sb.handle_port_message(tab, &bytes.to_vec(), now);
                } else if let Some(buf) = data.dyn_ref::<ArrayBuffer>() {
                    s.sb.handle_port_message(tab, &Uint8Array::new(buf).to_vec(), now);
                } else {
                    let what = data.js_typeof().as_string().unwrap_or_default();
                    s.sb.handle_port_garbage(tab, &what);
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
        State {
            sb: Switchboard::new(HubConfig::default(), seed),
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
                    let bytes = Uint8Array::from(&port::encode(&msg)[..]);
                    for tab in tabs {
                        if let Some(p) = self.ports.get(&tab) {
                            if let Err(e) = p.port.post_message(&bytes) {
                                log(&format!("post to tab {tab} failed: {e:?}"));
                            }
                        }
                    }
                }
                Output::Watch { tab, lock } => self.watch(tab, &lock),
                Output::Log(line) => log(&line),
            }
        }
        self.arm_timer();
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
                if let Some(text) = data.as_string() {
                    s.sb.handle_socket_text(hub, conn, &text, now);
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
        let locks = Reflect::get(&scope().navigator(), &JsValue::from_str("locks")).unwrap_or(JsValue::UNDEFINED);
        if locks.is_undefined() {
            log("Web Locks unavailable: tabs that vanish without pagehide are noticed only on their next message");
            return;
        }
        let granted = Closure::<dyn FnMut(JsValue)>::new(move |_lock| {
            with_state(|s, now| {
                s.sb.handle_tab_gone(tab, now);
                s.ports.remove(&tab);
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
