//! What a tab loads: a small client that talks to the Switchboard hub in the SharedWorker
//! over a MessagePort. It turns JS calls into `ToHub` messages and `FromHub` messages into
//! handler calls; it holds no socket and parses no payload beyond `JSON.parse`.
//! Invariant: every promise it hands out settles (ack, error, or timeout from the hub).

// In the browser the client is no_std: a small allocator and an aborting panic handler keep
// the bundle closer to its budget (std's panic and formatting machinery cost ~4 KB gzip).
#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

#[cfg(target_arch = "wasm32")]
#[global_allocator]
// SAFETY: wasm32 without the atomics feature is single-threaded.
static ALLOC: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // Nothing here panics on input (errors are values); this is only a last resort.
    core::arch::wasm32::unreachable()
}

use alloc::boxed::Box;
use alloc::rc::{Rc, Weak};
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use js_sys::{Array, ArrayBuffer, Function, Object, Promise, Reflect, Uint8Array, JSON};
use switchboard_shared::port::{
    self, AckRequest, AuthState, Bytes, Endpoint, FromHub, Options, Status, ToHub, PROTOCOL_VERSION,
};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, MessagePort, SharedWorker, WorkerOptions, WorkerType};

/// The worker's name carries the protocol version: after a deploy that changes it, new
/// pages get a new hub instead of an incompatible old one.
const WORKER_NAME: &str = "switchboard-v1";
/// Held by the hub for its whole life (see the worker).
const HUB_LOCK: &str = "switchboard-hub-v1";

#[wasm_bindgen]
extern "C" {
    type LockManager;
    #[wasm_bindgen(method, catch)]
    fn request(this: &LockManager, name: &str, callback: &Function) -> Result<Promise, JsValue>;

    #[wasm_bindgen(catch, js_namespace = JSON, js_name = parse)]
    fn json_parse_with(text: &str, reviver: &JsValue) -> Result<JsValue, JsValue>;
}

type Listener = Closure<dyn FnMut(JsValue)>;
type PortListener = Closure<dyn FnMut(MessageEvent)>;

/// A `JSON.stringify` replacer or `JSON.parse` reviver.
type JsonHook = Closure<dyn FnMut(JsValue, JsValue) -> JsValue>;

/// Who waits for `connect()`: a JS promise, or a Rust callback.
enum Ready {
    Js(Function, Function),
    Rust(Box<dyn FnOnce(Result<Client, JsValue>)>),
}

enum Call {
    /// emitWithAck: resolve with the first ack argument.
    Promise(Function, Function),
    /// emit with a trailing callback: call it with every ack argument.
    Callback(Function),
}

struct Inner {
    tab: String,
    endpoint: Endpoint,
    auth: Option<String>,
    options: Options,
    ack_timeout: u32,
    port: RefCell<MessagePort>,
    worker_url: String,
    /// Numbers this tab's emits; durable ones wait in `outbox` until the hub says Stored.
    seq: Cell<u32>,
    outbox: RefCell<Vec<(u32, Vec<u8>)>>,
    /// Server clock minus ours, in ms, once the hub measured it.
    clock_offset: Cell<Option<f64>>,
    /// After a reconnection: whether the server replayed what was missed.
    recovered: Cell<Option<bool>>,
    watching_hub: Cell<bool>,
    /// The sign-in state the hub shares with every tab.
    signin: RefCell<Option<AuthState>>,
    auth_fns: RefCell<Vec<Function>>,
    /// The client itself while `connect()` is pending (nothing else holds it then).
    keepalive: RefCell<Option<Rc<Inner>>>,
    handlers: RefCell<Vec<(String, Function)>>,
    calls: RefCell<Vec<(u32, Call)>>,
    next_id: Cell<u32>,
    status: RefCell<Status>,
    status_fns: RefCell<Vec<Function>>,
    tabs: RefCell<Vec<String>>,
    tabs_fns: RefCell<Vec<Function>>,
    rooms: RefCell<Vec<String>>,
    /// Settles `connect()` until the hub says Welcome.
    welcome: RefCell<Option<Ready>>,
    /// Resolving this releases the tab's Web Lock.
    release_lock: RefCell<Option<Function>>,
    /// Binary parts collected by the JSON replacer / handed to the reviver.
    bins: RefCell<Vec<JsValue>>,
    listeners: RefCell<Vec<(&'static str, Listener)>>,
    onmessage: RefCell<Option<PortListener>>,
    replacer: JsonHook,
    reviver: JsonHook,
    closed: Cell<bool>,
}

/// A connection to a Socket.IO server, shared with every other tab through the hub.
#[wasm_bindgen]
pub struct Client {
    inner: Rc<Inner>,
}

fn error(msg: &str) -> JsValue {
    js_sys::Error::new(msg).into()
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn get_u32(obj: &JsValue, key: &str, default: u32) -> u32 {
    get(obj, key).as_f64().map(|n| n.clamp(0.0, u32::MAX as f64) as u32).unwrap_or(default)
}

fn set(obj: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}

fn placeholder(n: usize) -> JsValue {
    let o = Object::new();
    set(&o, "_placeholder", &JsValue::TRUE);
    set(&o, "num", &JsValue::from(n as u32));
    o.into()
}

fn to_bytes(v: &JsValue) -> Option<Vec<u8>> {
    if let Some(b) = v.dyn_ref::<ArrayBuffer>() {
        return Some(Uint8Array::new(b).to_vec());
    }
    if ArrayBuffer::is_view(v) {
        let view: &Uint8Array = v.unchecked_ref();
        let (buf, off, len) = (view.buffer(), get(v, "byteOffset"), get(v, "byteLength"));
        let bytes = Uint8Array::new_with_byte_offset_and_length(&buf, off.as_f64()? as u32, len.as_f64()? as u32);
        return Some(bytes.to_vec());
    }
    None
}

/// `{user, expiresAt, error, signedOut}`, or null before the hub knows.
fn auth_object(a: &AuthState) -> JsValue {
    let o = Object::new();
    let opt = |v: &Option<String>| v.as_deref().map_or(JsValue::NULL, JsValue::from_str);
    set(&o, "user", &opt(&a.user));
    set(&o, "expiresAt", &a.expires_at.map_or(JsValue::NULL, |e| JsValue::from_f64(e as f64)));
    set(&o, "error", &opt(&a.error));
    set(&o, "signedOut", &opt(&a.signed_out));
    let t = &a.telemetry;
    let tel = Object::new();
    set(&tel, "refreshes", &JsValue::from(t.refreshes));
    set(&tel, "lastMs", &JsValue::from(t.last_ms));
    set(&tel, "maxMs", &JsValue::from(t.max_ms));
    set(&tel, "meanMs", &JsValue::from_f64(if t.refreshes > 0 { t.total_ms as f64 / t.refreshes as f64 } else { 0.0 }));
    let counts = |list: &[(String, u32)]| {
        let o = Object::new();
        for (k, n) in list {
            set(&o, k, &JsValue::from(*n));
        }
        JsValue::from(o)
    };
    set(&tel, "failures", &counts(&t.failures));
    set(&tel, "signOuts", &counts(&t.sign_outs));
    set(&o, "telemetry", &tel.into());
    o.into()
}

fn status_object(s: &Status) -> JsValue {
    let o = Object::new();
    set(&o, "status", &JsValue::from_str(s.name()));
    match s {
        Status::Connected { sid } => set(&o, "sid", &JsValue::from_str(sid)),
        Status::Reconnecting { attempt, delay_ms } => {
            set(&o, "attempt", &JsValue::from(*attempt));
            set(&o, "delay", &JsValue::from(*delay_ms));
        }
        Status::Disconnected { reason } => set(&o, "reason", &JsValue::from_str(reason)),
        Status::Connecting | Status::Offline => {}
    }
    o.into()
}

impl Inner {
    fn send(&self, msg: &ToHub) {
        if self.closed.get() {
            return;
        }
        self.post(&port::encode(msg));
    }

    fn post(&self, bytes: &[u8]) {
        if self.closed.get() {
            return;
        }
        if let Err(e) = self.port.borrow().post_message(&Uint8Array::from(bytes)) {
            warn("cannot reach the hub", &e);
        }
    }

    fn next_id(&self) -> u32 {
        let id = self.next_id.get().wrapping_add(1);
        self.next_id.set(id);
        id
    }

    /// Hello, then every subscription and room: used on connect and after bfcache restore.
    fn attach(&self) {
        self.send(&ToHub::Hello {
            version: PROTOCOL_VERSION,
            tab: self.tab.clone(),
            endpoint: self.endpoint.clone(),
            auth: self.auth.clone(),
            options: self.options,
        });
        let mut seen: Vec<&str> = Vec::new();
        for (event, _) in self.handlers.borrow().iter() {
            if !seen.contains(&event.as_str()) {
                seen.push(event);
                self.send(&ToHub::Subscribe { event: event.clone() });
            }
        }
        for room in self.rooms.borrow().iter() {
            self.send(&ToHub::Join { req: 0, room: room.clone() });
        }
    }

    /// Encodes `args` as a JSON array, moving binary parts out as attachments.
    fn encode_args(&self, args: &Array) -> Result<(String, Vec<Bytes>), JsValue> {
        self.bins.borrow_mut().clear();
        let text = JSON::stringify_with_replacer(args, self.replacer.as_ref())?;
        let bins = self.bins.borrow_mut().drain(..).filter_map(|b| to_bytes(&b)).map(Bytes).collect();
        Ok((text.as_string().unwrap_or_default(), bins))
    }

    fn decode_args(&self, args: &str, bins: Vec<Bytes>) -> Array {
        let parsed = if bins.is_empty() {
            JSON::parse(args)
        } else {
            *self.bins.borrow_mut() = bins.iter().map(|b| Uint8Array::from(&b.0[..]).buffer().into()).collect();
            let r = json_parse_with(args, self.reviver.as_ref());
            self.bins.borrow_mut().clear();
            r
        };
        parsed.ok().and_then(|v| v.dyn_into::<Array>().ok()).unwrap_or_default()
    }

    fn settle(&self, id: u32, result: Result<Array, String>) {
        let call = {
            let mut calls = self.calls.borrow_mut();
            let Some(pos) = calls.iter().position(|(i, _)| *i == id) else {
                return;
            };
            calls.swap_remove(pos).1
        };
        match (call, result) {
            (Call::Promise(resolve, _), Ok(args)) => drop(resolve.call1(&JsValue::NULL, &args.get(0))),
            (Call::Promise(_, reject), Err(e)) => drop(reject.call1(&JsValue::NULL, &error(&e))),
            (Call::Callback(f), Ok(args)) => drop(f.apply(&JsValue::NULL, &args)),
            (Call::Callback(_), Err(e)) => warn("ack failed: ", &e.into()),
        }
    }

    fn on_message(self: &Rc<Self>, data: JsValue) {
        let Some(bytes) = data.dyn_ref::<Uint8Array>().map(Uint8Array::to_vec) else {
            return;
        };
        let msg = match port::decode::<FromHub>(&bytes) {
            Ok(m) => m,
            Err(_) => return warn("malformed message from the hub", &JsValue::UNDEFINED),
        };
        match msg {
            FromHub::Welcome { status, .. } => {
                self.set_status(status);
                settle_connect(self, Ok(()));
                self.watch_hub();
            }
            FromHub::Status(s) => self.set_status(s),
            FromHub::Event { event, room: _, args, bins, reply } => {
                let handlers: Vec<Function> =
                    self.handlers.borrow().iter().filter(|(e, _)| *e == event).map(|(_, f)| f.clone()).collect();
                if handlers.is_empty() {
                    return;
                }
                let args = self.decode_args(&args, bins);
                if let Some(token) = reply {
                    let weak = Rc::downgrade(self);
                    // The handler's last argument answers the server: `callback(value)`.
                    let ack = Closure::once_into_js(move |a: JsValue| {
                        if let Some(inner) = weak.upgrade() {
                            let reply = if a.is_undefined() { Array::new() } else { Array::of1(&a) };
                            let (args, bins) = inner.encode_args(&reply).unwrap_or_else(|_| ("[]".into(), Vec::new()));
                            inner.send(&ToHub::Reply { token, args, bins });
                        }
                    });
                    args.push(&ack);
                }
                for f in handlers {
                    if let Err(e) = f.apply(&JsValue::NULL, &args) {
                        warn("an event handler threw", &e);
                    }
                }
            }
            FromHub::Ack { id, args, bins } => {
                let args = self.decode_args(&args, bins);
                self.settle(id, Ok(args));
            }
            FromHub::AckFailed { id, reason } => self.settle(id, Err(reason)),
            FromHub::Done { req, error } => self.settle(req, error.map_or(Ok(Array::new()), Err)),
            FromHub::Tabs { tabs } => {
                *self.tabs.borrow_mut() = tabs;
                let arr = self.tabs_array();
                for f in self.tabs_fns.borrow().clone() {
                    let _ = f.call1(&JsValue::NULL, &arr);
                }
            }
            FromHub::Stored { seq } => self.outbox.borrow_mut().retain(|(s, _)| *s != seq),
            FromHub::Refused { seq, reason } => {
                self.outbox.borrow_mut().retain(|(s, _)| *s != seq);
                warn("an emit was refused: ", &reason.into());
            }
            FromHub::Clock { offset_ms, .. } => self.clock_offset.set(Some(offset_ms as f64)),
            FromHub::Auth(a) => {
                let obj = auth_object(&a);
                *self.signin.borrow_mut() = Some(a);
                for f in self.auth_fns.borrow().clone() {
                    let _ = f.call1(&JsValue::NULL, &obj);
                }
            }
            FromHub::Token { req, token, error } => {
                let result = match (token, error) {
                    (Some(t), _) => Ok(Array::of1(&JsValue::from_str(&t))),
                    (None, e) => Err(e.unwrap_or_else(|| "no token".into())),
                };
                self.settle(req, result);
            }
            FromHub::Recovered { recovered } => {
                self.recovered.set(Some(recovered));
                let status = self.status.borrow().clone();
                self.set_status(status);
            }
            FromHub::Error { code, message } => {
                let _ = code;
                let text = String::from("switchboard hub: ") + &message;
                warn(&text, &JsValue::UNDEFINED);
                settle_connect(self, Err(&text));
            }
        }
    }

    fn next_seq(&self) -> u32 {
        let seq = self.seq.get();
        self.seq.set(seq.wrapping_add(1));
        seq
    }

    /// Sends an emit; a durable one is kept until the hub has it safe.
    fn emit(&self, event: String, args: &Array, ack: Option<AckRequest>, volatile: bool) -> Result<(), JsValue> {
        let (args, bins) = self.encode_args(args)?;
        let seq = self.next_seq();
        let bytes = port::encode(&ToHub::Emit { seq, event, args, bins, ack, volatile });
        if ack.is_none() && !volatile {
            self.outbox.borrow_mut().push((seq, bytes.clone()));
        }
        self.post(&bytes);
        Ok(())
    }

    /// Waits on the hub's lifetime lock: granted means the hub (the SharedWorker) died.
    fn watch_hub(self: &Rc<Self>) {
        if self.watching_hub.replace(true) {
            return;
        }
        let Some(window) = web_sys::window() else { return };
        let locks = get(&window.navigator().into(), "locks");
        if locks.is_undefined() {
            return;
        }
        let weak = Rc::downgrade(self);
        let died = Closure::once_into_js(move |_lock: JsValue| {
            // Returning at once releases the lock for the next hub.
            if let Some(inner) = weak.upgrade() {
                inner.hub_died();
            }
        });
        let _ = locks.unchecked_ref::<LockManager>().request(HUB_LOCK, died.unchecked_ref());
    }

    /// The SharedWorker is gone: start a new one, attach again, and resend every emit it
    /// had not confirmed. Calls that were waiting on the old hub fail.
    fn hub_died(self: &Rc<Self>) {
        self.watching_hub.set(false);
        if self.closed.get() {
            return;
        }
        warn("the hub stopped; starting a new one", &JsValue::UNDEFINED);
        let worker_options = WorkerOptions::new();
        worker_options.set_type(WorkerType::Module);
        worker_options.set_name(WORKER_NAME);
        let Ok(worker) = SharedWorker::new_with_worker_options(&self.worker_url, &worker_options) else {
            return warn("cannot start a new hub", &JsValue::UNDEFINED);
        };
        let old = self.port.replace(worker.port());
        old.set_onmessage(None);
        old.close();
        if let Some(onmessage) = self.onmessage.borrow().as_ref() {
            self.port.borrow().set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
        }
        self.port.borrow().start();
        self.attach();
        let unconfirmed: Vec<Vec<u8>> = self.outbox.borrow().iter().map(|(_, b)| b.clone()).collect();
        for bytes in unconfirmed {
            self.post(&bytes);
        }
        let calls: Vec<u32> = self.calls.borrow().iter().map(|(id, _)| *id).collect();
        for id in calls {
            self.settle(id, Err("the hub restarted before answering".into()));
        }
        self.set_status(Status::Connecting);
    }

    /// `status` as the object tabs see, with `recovered` once known.
    fn status_detail(&self, status: &Status) -> JsValue {
        let obj = status_object(status);
        if let Some(r) = self.recovered.get() {
            set(obj.unchecked_ref(), "recovered", &JsValue::from_bool(r));
        }
        obj
    }

    fn set_status(&self, s: Status) {
        let obj = self.status_detail(&s);
        *self.status.borrow_mut() = s;
        for f in self.status_fns.borrow().clone() {
            let _ = f.call1(&JsValue::NULL, &obj);
        }
    }

    fn tabs_array(&self) -> Array {
        self.tabs.borrow().iter().map(|t| JsValue::from_str(t)).collect()
    }

    fn request(&self, make: impl FnOnce(u32) -> ToHub) -> Promise {
        let id = self.next_id();
        let promise = Promise::new(&mut |resolve, reject| {
            self.calls.borrow_mut().push((id, Call::Promise(resolve, reject)));
        });
        self.send(&make(id));
        promise
    }
}

fn warn(what: &str, detail: &JsValue) {
    web_sys::console::warn_2(&JsValue::from_str(&(String::from("switchboard: ") + what)), detail);
}

/// 24 random hex digits.
fn random_id() -> String {
    (0..24).map(|_| char::from(b"0123456789abcdef"[(js_sys::Math::random() * 16.0) as usize & 15])).collect()
}

/// Connects to a Socket.IO server through the shared hub. `options`: `url` (default: this
/// page's origin), `path` (`/socket.io`), `namespace` (`/`), `auth` (object sent with
/// CONNECT), `ackTimeout` (ms, default 10000, 0 = none), `reconnection`,
/// `reconnectionDelay`, `reconnectionDelayMax`, `randomizationFactor`, `timeout`.
/// `worker_url` is the URL of the worker bootstrap script. Resolves with a [`Client`] once
/// the hub welcomed this tab.
#[wasm_bindgen]
pub fn connect(options: JsValue, worker_url: String) -> Promise {
    Promise::new(&mut |resolve, reject| {
        if let Err(e) = start(&options, &worker_url, Ready::Js(resolve, reject.clone())) {
            let _ = reject.call1(&JsValue::NULL, &e);
        }
    })
}

impl Client {
    /// The Rust API of [`connect`]: `ready` gets the client once the hub welcomed this tab,
    /// or the error. `options` is the same object as for the JS `connect(options)`.
    pub fn connect_with(options: &JsValue, worker_url: &str, ready: impl FnOnce(Result<Client, JsValue>) + 'static) {
        let ready = Rc::new(RefCell::new(Some(Box::new(ready) as Box<dyn FnOnce(Result<Client, JsValue>)>)));
        let take = ready.clone();
        if let Err(e) = start(
            options,
            worker_url,
            Ready::Rust(Box::new(move |r| {
                if let Some(f) = take.borrow_mut().take() {
                    f(r)
                }
            })),
        ) {
            if let Some(f) = ready.borrow_mut().take() {
                f(Err(e))
            }
        }
    }
}

fn start(opts: &JsValue, worker_url: &str, ready: Ready) -> Result<(), JsValue> {
    let window = web_sys::window().ok_or_else(|| error("switchboard: connect() must run in a page"))?;
    let location = window.location();
    let url = get(opts, "url").as_string().unwrap_or_else(|| location.origin().unwrap_or_default());
    let parsed = web_sys::Url::new_with_base(&url, &location.href().unwrap_or_default())
        .map_err(|_| error("switchboard: invalid url"))?;
    let mut namespace = get(opts, "namespace").as_string().unwrap_or_default();
    if namespace.is_empty() {
        let p = parsed.pathname();
        namespace = if p.len() > 1 { p } else { "/".into() };
    }
    let endpoint = Endpoint {
        url: parsed.protocol() + "//" + &parsed.host(),
        path: get(opts, "path").as_string().unwrap_or_else(|| "/socket.io".into()),
        namespace,
        query: parsed.search().trim_start_matches('?').into(),
    };
    let auth = match get(opts, "auth") {
        a if a.is_object() => Some(JSON::stringify(&a)?.as_string().unwrap_or_default()),
        _ => None,
    };
    let d = Options::default();
    let options = Options {
        reconnection: get(opts, "reconnection").as_bool().unwrap_or(d.reconnection),
        reconnection_delay_ms: get_u32(opts, "reconnectionDelay", d.reconnection_delay_ms),
        reconnection_delay_max_ms: get_u32(opts, "reconnectionDelayMax", d.reconnection_delay_max_ms),
        randomization_factor: get(opts, "randomizationFactor")
            .as_f64()
            .map(|f| f as f32)
            .unwrap_or(d.randomization_factor),
        timeout_ms: get_u32(opts, "timeout", d.timeout_ms),
        max_queue: get_u32(opts, "maxQueue", 0),
        max_queue_bytes: get_u32(opts, "maxQueueBytes", 0),
        max_queue_age_ms: get(opts, "maxQueueAge").as_f64().map_or(0, |f| f.max(0.0) as u64),
        bearer: get(opts, "authMode").as_string().as_deref() == Some("bearer"),
    };
    let ack_timeout = get_u32(opts, "ackTimeout", 10_000);

    let worker_options = WorkerOptions::new();
    worker_options.set_type(WorkerType::Module);
    worker_options.set_name(WORKER_NAME);
    let worker = SharedWorker::new_with_worker_options(worker_url, &worker_options)
        .map_err(|_| error("switchboard: SharedWorker is not available in this browser"))?;

    let inner = Rc::new_cyclic(|weak: &Weak<Inner>| {
        let w = weak.clone();
        let replacer = JsonHook::new(move |_key, value: JsValue| {
            if value.is_instance_of::<ArrayBuffer>() || ArrayBuffer::is_view(&value) {
                if let Some(inner) = w.upgrade() {
                    let mut bins = inner.bins.borrow_mut();
                    bins.push(value);
                    return placeholder(bins.len() - 1);
                }
            }
            value
        });
        let w = weak.clone();
        let reviver = JsonHook::new(move |_key, value: JsValue| {
            if value.is_object() && get(&value, "_placeholder").as_bool() == Some(true) {
                if let (Some(inner), Some(n)) = (w.upgrade(), get(&value, "num").as_f64()) {
                    if let Some(b) = inner.bins.borrow().get(n as usize) {
                        return b.clone();
                    }
                }
            }
            value
        });
        Inner {
            tab: random_id(),
            endpoint,
            auth,
            options,
            ack_timeout,
            port: RefCell::new(worker.port()),
            worker_url: worker_url.into(),
            seq: Cell::new(0),
            outbox: RefCell::default(),
            clock_offset: Cell::new(None),
            recovered: Cell::new(None),
            watching_hub: Cell::new(false),
            keepalive: RefCell::new(None),
            signin: RefCell::new(None),
            auth_fns: RefCell::default(),
            handlers: RefCell::default(),
            calls: RefCell::default(),
            next_id: Cell::new(0),
            status: RefCell::new(Status::Connecting),
            status_fns: RefCell::default(),
            tabs: RefCell::default(),
            tabs_fns: RefCell::default(),
            rooms: RefCell::default(),
            welcome: RefCell::new(Some(ready)),
            release_lock: RefCell::default(),
            bins: RefCell::default(),
            listeners: RefCell::default(),
            onmessage: RefCell::default(),
            replacer,
            reviver,
            closed: Cell::new(false),
        }
    });

    let weak = Rc::downgrade(&inner);
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        if let Some(inner) = weak.upgrade() {
            inner.on_message(e.data());
        }
    });
    inner.port.borrow().set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    *inner.onmessage.borrow_mut() = Some(onmessage);

    // pagehide: say goodbye (the lock covers tabs that die without it); pageshow after a
    // back/forward-cache restore: attach again.
    for (name, persisted_only) in [("pagehide", false), ("pageshow", true)] {
        let weak = Rc::downgrade(&inner);
        let listener = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
            if let Some(inner) = weak.upgrade() {
                if !persisted_only {
                    inner.send(&ToHub::Bye);
                } else if get(&e, "persisted").as_bool() == Some(true) {
                    inner.attach();
                }
            }
        });
        let _ = window.add_event_listener_with_callback(name, listener.as_ref().unchecked_ref());
        inner.listeners.borrow_mut().push((name, listener));
    }

    // Hold a Web Lock named after the tab for the tab's whole life, so the hub notices when
    // it vanishes without a word; say Hello once it is held. The client (inner) lives in
    // the lock callback until the Welcome resolves connect().
    // Nothing else holds the client until the hub welcomes it (cleared by settle_connect).
    *inner.keepalive.borrow_mut() = Some(inner.clone());
    let locks = get(&window.navigator().into(), "locks");
    if locks.is_undefined() {
        inner.port.borrow().start();
        inner.attach();
        return Ok(());
    }
    let held = inner.clone();
    let callback = Closure::once_into_js(move |_lock: JsValue| -> JsValue {
        let hold = Promise::new(&mut |release, _| *held.release_lock.borrow_mut() = Some(release));
        held.port.borrow().start();
        held.attach();
        hold.into()
    });
    let name = String::from("switchboard-tab-") + &inner.tab;
    let _ = locks.unchecked_ref::<LockManager>().request(&name, callback.unchecked_ref())?;
    Ok(())
}

/// Settles `connect()`, handing the client to the caller (or dropping it on error).
fn settle_connect(inner: &Rc<Inner>, result: Result<(), &str>) {
    let ready = inner.welcome.borrow_mut().take();
    match (ready, result) {
        (Some(Ready::Js(resolve, _)), Ok(())) => {
            drop(resolve.call1(&JsValue::NULL, &Client { inner: inner.clone() }.into()))
        }
        (Some(Ready::Js(_, reject)), Err(e)) => drop(reject.call1(&JsValue::NULL, &error(e))),
        (Some(Ready::Rust(f)), Ok(())) => f(Ok(Client { inner: inner.clone() })),
        (Some(Ready::Rust(f)), Err(e)) => f(Err(error(e))),
        (None, _) => {}
    }
    inner.keepalive.borrow_mut().take();
}

#[wasm_bindgen]
impl Client {
    /// This tab's id (also in every other tab's `tabs`).
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> String {
        self.inner.tab.clone()
    }

    /// `connecting`, `connected`, `reconnecting` or `disconnected`.
    #[wasm_bindgen(getter)]
    pub fn status(&self) -> String {
        self.inner.status.borrow().name().into()
    }

    /// The status with its details: `{status, sid?, attempt?, delay?, reason?, recovered?}`.
    #[wasm_bindgen(getter, js_name = statusDetail)]
    pub fn status_detail(&self) -> JsValue {
        self.inner.status_detail(&self.inner.status.borrow())
    }

    /// Calls `f(detail)` on every status change (and once now).
    #[wasm_bindgen(js_name = onStatus)]
    pub fn on_status(&self, f: Function) {
        let _ = f.call1(&JsValue::NULL, &self.status_detail());
        self.inner.status_fns.borrow_mut().push(f);
    }

    /// The ids of every tab sharing this connection.
    #[wasm_bindgen(getter)]
    pub fn tabs(&self) -> Array {
        self.inner.tabs_array()
    }

    /// Calls `f(tabs)` whenever a tab joins or leaves (and once now).
    #[wasm_bindgen(js_name = onTabs)]
    pub fn on_tabs(&self, f: Function) {
        let _ = f.call1(&JsValue::NULL, &self.inner.tabs_array());
        self.inner.tabs_fns.borrow_mut().push(f);
    }

    /// Calls `f(...args)` for every `event` the server sends to this tab.
    pub fn on(&self, event: String, f: Function) {
        let first = !self.inner.handlers.borrow().iter().any(|(e, _)| *e == event);
        if first {
            self.inner.send(&ToHub::Subscribe { event: event.clone() });
        }
        self.inner.handlers.borrow_mut().push((event, f));
    }

    /// Removes `f` (or, without `f`, every handler) for `event`.
    pub fn off(&self, event: String, f: Option<Function>) {
        let mut handlers = self.inner.handlers.borrow_mut();
        handlers.retain(|(e, g)| !(*e == event && f.as_ref().is_none_or(|f| f == g)));
        if !handlers.iter().any(|(e, _)| *e == event) {
            drop(handlers);
            self.inner.send(&ToHub::Unsubscribe { event });
        }
    }

    /// Sends `event` with `args` (JSON values, ArrayBuffers, typed arrays). A function as
    /// the last argument is called with the server's ack arguments.
    pub fn emit(&self, event: String, args: Array) -> Result<(), JsValue> {
        let last = args.get(args.length().wrapping_sub(1));
        let ack = if last.is_function() {
            args.pop();
            let id = self.inner.next_id();
            self.inner.calls.borrow_mut().push((id, Call::Callback(last.unchecked_into())));
            Some(AckRequest { id, timeout_ms: self.inner.ack_timeout })
        } else {
            None
        };
        self.inner.emit(event, &args, ack, false)
    }

    /// Sends `event` only if connected right now: never queued (Socket.IO's `volatile`).
    #[wasm_bindgen(js_name = emitVolatile)]
    pub fn emit_volatile(&self, event: String, args: Array) -> Result<(), JsValue> {
        self.inner.emit(event, &args, None, true)
    }

    /// Server clock minus this browser's clock in ms (measured by the hub), if known.
    #[wasm_bindgen(getter, js_name = clockOffset)]
    pub fn clock_offset(&self) -> Option<f64> {
        self.inner.clock_offset.get()
    }

    /// After a reconnection: true when the server replayed every numbered event this hub
    /// missed, false when some may be lost (resync from the source of truth).
    #[wasm_bindgen(getter)]
    pub fn recovered(&self) -> Option<bool> {
        self.inner.recovered.get()
    }

    /// The sign-in state shared by every tab: `{user, expiresAt, error, signedOut}` (user is
    /// null when signed out), or null until the hub knows. Tokens never reach the page.
    #[wasm_bindgen(getter)]
    pub fn auth(&self) -> JsValue {
        self.inner.signin.borrow().as_ref().map_or(JsValue::NULL, auth_object)
    }

    /// Calls `f(auth)` whenever the sign-in state changes (and once now).
    #[wasm_bindgen(js_name = onAuth)]
    pub fn on_auth(&self, f: Function) {
        let _ = f.call1(&JsValue::NULL, &self.auth());
        self.inner.auth_fns.borrow_mut().push(f);
    }

    /// Signs in every tab (the hub posts to the server's /auth/login; cookies are HttpOnly).
    pub fn login(&self, username: String, password: String) -> Promise {
        self.inner.request(|req| ToHub::Login { req, username, password })
    }

    /// Signs every tab out.
    pub fn logout(&self) -> Promise {
        self.inner.request(|req| ToHub::Logout { req })
    }

    /// Bearer mode (`connect({ authMode: 'bearer' })`): the access token, from the hub's
    /// memory (refreshed first when it is about to expire; one request for all tabs).
    pub fn token(&self) -> Promise {
        self.inner.request(|req| ToHub::Token { req })
    }

    /// Asks for a token refresh; the hub refreshes once however many tabs ask.
    pub fn refresh(&self) -> Promise {
        self.inner.request(|req| ToHub::Refresh { req })
    }

    /// Emits this tab sent that the hub has not yet stored or delivered.
    #[wasm_bindgen(getter)]
    pub fn unconfirmed(&self) -> u32 {
        self.inner.outbox.borrow().len() as u32
    }

    /// Sends `event` and resolves with the server's first ack argument; rejects after
    /// `ackTimeout` ms with `Error("operation has timed out")`.
    #[wasm_bindgen(js_name = emitWithAck)]
    pub fn emit_with_ack(&self, event: String, args: Array) -> Result<Promise, JsValue> {
        let (args, bins) = self.inner.encode_args(&args)?;
        let timeout_ms = self.inner.ack_timeout;
        let seq = self.inner.next_seq();
        Ok(self.inner.request(|id| ToHub::Emit {
            seq,
            event,
            args,
            bins,
            ack: Some(AckRequest { id, timeout_ms }),
            volatile: false,
        }))
    }

    /// Joins `room`: resolves once the server confirmed. Room events then reach this tab.
    pub fn join(&self, room: String) -> Promise {
        let mut rooms = self.inner.rooms.borrow_mut();
        if !rooms.contains(&room) {
            rooms.push(room.clone());
        }
        drop(rooms);
        self.inner.request(|req| ToHub::Join { req, room })
    }

    /// Leaves `room`: resolves once done (when this was the hub's last tab in it, once the
    /// server confirmed).
    pub fn leave(&self, room: String) -> Promise {
        self.inner.rooms.borrow_mut().retain(|r| *r != room);
        self.inner.request(|req| ToHub::Leave { req, room })
    }

    /// Rooms this tab is in.
    #[wasm_bindgen(getter)]
    pub fn rooms(&self) -> Array {
        self.inner.rooms.borrow().iter().map(|r| JsValue::from_str(r)).collect()
    }

    /// Detaches this tab from the hub. Pending calls are rejected.
    pub fn close(&self) {
        self.inner.shutdown();
    }
}

impl Inner {
    fn shutdown(&self) {
        if self.closed.get() {
            return;
        }
        self.send(&ToHub::Bye);
        self.closed.set(true);
        self.port.borrow().set_onmessage(None);
        self.port.borrow().close();
        if let Some(window) = web_sys::window() {
            for (name, l) in self.listeners.borrow_mut().drain(..) {
                let _ = window.remove_event_listener_with_callback(name, l.as_ref().unchecked_ref());
            }
        }
        if let Some(release) = self.release_lock.borrow_mut().take() {
            let _ = release.call0(&JsValue::NULL);
        }
        let calls: Vec<u32> = self.calls.borrow().iter().map(|(id, _)| *id).collect();
        for id in calls {
            self.settle(id, Err("client closed".into()));
        }
        self.set_status(Status::Disconnected { reason: "client closed".into() });
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown();
    }
}
