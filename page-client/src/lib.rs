//! What a tab loads. Two halves:
//! - `Core` (Rust, this file): the tab's protocol state (`switchboard_shared::page::Page`:
//!   Hello, subscriptions, rooms, the durable outbox) and the postcard codec; it turns calls
//!   into `ToHub` bytes and `FromHub` bytes into calls on its host.
//! - `js/client.js` (a wasm-bindgen snippet, shipped inside the JS glue): the `Client` object
//!   pages use, and the platform plumbing (SharedWorker, MessagePort, Web Locks, page
//!   lifecycle events, JSON with binary attachments, promises and handler lists).
//!
//! The split keeps the bundle under its budget (socket.io-client's 12.9 KB gzip): object
//! building, callbacks and promises cost a few bytes of JS but hundreds of bytes of wasm
//! and glue each. Invariants: every promise handed out settles (ack, error, timeout from the
//! hub, or close); `Core` never holds a borrow while it calls its host, so handlers may call
//! back into the client; nothing from the hub or the page panics (errors are values).

// In the browser the client is no_std: a small allocator and an aborting panic handler keep
// the bundle within its budget (std's panic and formatting machinery cost ~4 KB gzip).
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

use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use js_sys::{Array, Function, Promise};
use switchboard_shared::json::write_string;
use switchboard_shared::page::Page;
use switchboard_shared::port::{AckRequest, Bytes, Endpoint, Options, ToHub};
use switchboard_shared::wire::{AuthRef, FromHubRef, StatusRef};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/client.js")]
extern "C" {
    /// Opens a client around `core`: resolves with it once the hub welcomed this tab.
    fn open(core: Core, options: &JsValue, worker_url: &JsValue) -> Promise;

    /// What `Core` reports to: the JS client.
    pub type Host;
    /// One entry point for everything Core tells the JS client: `kind` is one of [`to_js`],
    /// `n`/`m` numbers and `a`/`b` bytes (UTF-8 text unless the kind says bytes).
    #[wasm_bindgen(method, js_name = _h)]
    fn h(this: &Host, kind: u32, n: f64, m: f64, a: &[u8], b: &[u8]);
}

/// The kinds of `Host::_h`; `js/client.js` uses the same numbers.
pub mod to_js {
    /// `a`: bytes for the hub's port.
    pub const POST: u32 = 0;
    /// `a`: a binary attachment of the next EVENT or ACK.
    pub const BIN: u32 = 1;
    /// `a`: event name, `b`: JSON args, `n`: the server's ack token or NaN.
    pub const EVENT: u32 = 2;
    /// `n`: call id, `a`: JSON args.
    pub const ACK: u32 = 3;
    /// `n`: call id, `a`: why.
    pub const FAIL: u32 = 4;
    /// `n`: call id, `a`: the value when `m` is 1.
    pub const OK: u32 = 5;
    /// `a`: status name, `b`: sid or reason, `n`: attempt, `m`: delay; WELCOME also
    /// settles `connect()`.
    pub const STATUS: u32 = 6;
    pub const WELCOME: u32 = 7;
    /// `a`: JSON array of tab ids.
    pub const TABS: u32 = 8;
    /// `a`: JSON sign-in state.
    pub const AUTH: u32 = 9;
    /// `n`: server clock minus the hub's, in ms.
    pub const CLOCK: u32 = 10;
    /// `n`: 1 if the server replayed what was missed.
    pub const RECOVERED: u32 = 11;
    /// `a`: a warning for the console.
    pub const WARN: u32 = 12;
    /// `a`: the hub refused this tab (rejects `connect()`).
    pub const ERROR: u32 = 13;
}

/// The kinds of [`Core::op`]; `js/client.js` uses the same numbers.
pub mod op {
    pub const LOGIN: u32 = 0;
    pub const LOGOUT: u32 = 1;
    pub const REFRESH: u32 = 2;
    pub const TOKEN: u32 = 3;
    pub const BYE: u32 = 4;
    pub const SUBSCRIBE: u32 = 5;
    pub const UNSUBSCRIBE: u32 = 6;
    pub const JOIN: u32 = 7;
    pub const LEAVE: u32 = 8;
    pub const ATTACH: u32 = 9;
    pub const RESTART: u32 = 10;
    pub const REPLY: u32 = 11;
    pub const EMIT: u32 = 12;
    pub const EMIT_VOLATILE: u32 = 13;
    pub const EMIT_ACK: u32 = 14;
    /// Sends nothing: returns the unconfirmed count.
    pub const COUNT: u32 = 15;
}

/// The tab's protocol state, driven by `js/client.js`.
#[wasm_bindgen]
pub struct Core {
    host: RefCell<Host>,
    page: RefCell<Page>,
    /// Binary attachments for the next emit or reply, staged by `bin`.
    bins: RefCell<Vec<Bytes>>,
    ack_timeout: Cell<u32>,
}

/// A numeric option: NaN means absent (the default applies); negatives become 0.
fn num(n: f64, default: u32) -> u32 {
    if n.is_nan() {
        default
    } else {
        n.clamp(0.0, u32::MAX as f64) as u32
    }
}

/// Text from the JS client (TextEncoder output, so valid UTF-8; anything else is empty).
fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_default()
}

#[wasm_bindgen]
impl Core {
    /// Configures the client. `strs`: this tab's id, the server URL (origin), the Socket.IO
    /// path, the namespace, the query string and the CONNECT auth payload (JSON, empty for
    /// none), UTF-8, each ended by a NUL. `n`: [reconnection (0/1), reconnectionDelay,
    /// reconnectionDelayMax, randomizationFactor, timeout, maxQueue, maxQueueBytes,
    /// maxQueueAge, bearer (0/1), ackTimeout], NaN where absent (the defaults apply).
    pub fn init(&self, host: Host, strs: Vec<u8>, n: &[f64]) {
        let at = |i: usize| n.get(i).copied().unwrap_or(f64::NAN);
        let d = Options::default();
        let options = Options {
            reconnection: num(at(0), d.reconnection.into()) != 0,
            reconnection_delay_ms: num(at(1), d.reconnection_delay_ms),
            reconnection_delay_max_ms: num(at(2), d.reconnection_delay_max_ms),
            randomization_factor: if at(3).is_nan() { d.randomization_factor } else { at(3) as f32 },
            timeout_ms: num(at(4), d.timeout_ms),
            max_queue: num(at(5), d.max_queue),
            max_queue_bytes: num(at(6), d.max_queue_bytes),
            max_queue_age_ms: if at(7).is_nan() { d.max_queue_age_ms } else { at(7).max(0.0) as u64 },
            bearer: num(at(8), 0) != 0,
        };
        self.ack_timeout.set(num(at(9), 10_000));
        let mut s = strs.split(|&b| b == 0).map(|b| text(b.to_vec()));
        let mut next = || s.next().unwrap_or_default();
        let (tab, url, path, namespace, query, auth) = (next(), next(), next(), next(), next(), next());
        let endpoint = Endpoint { url, path, namespace, query };
        *self.page.borrow_mut() = Page::new(tab, endpoint, Some(auth).filter(|a| !a.is_empty()), options);
        *self.host.borrow_mut() = host;
    }

    /// Stages a binary attachment for the next emit or reply.
    pub fn bin(&self, bytes: Vec<u8>) {
        self.bins.borrow_mut().push(Bytes(bytes));
    }

    /// Everything a tab sends, by `kind` ([`op`]); `id` numbers the hub's answer (for
    /// `REPLY`, the server's ack token); `a` and `b` are the UTF-8 strings the kind takes
    /// (event and JSON args, room, event, username and password). `COUNT` returns the
    /// number of durable emits the hub has not yet confirmed.
    pub fn op(&self, kind: u32, id: u32, a: Vec<u8>, b: Vec<u8>) -> u32 {
        let (a, b) = (text(a), text(b));
        let bins = core::mem::take(&mut *self.bins.borrow_mut());
        let host = self.host.borrow();
        // Posting only calls postMessage: it never re-enters Core.
        let post = &mut |m: &[u8]| host.h(to_js::POST, 0.0, 0.0, m, &[]);
        let mut p = self.page.borrow_mut();
        let ack = (kind == op::EMIT_ACK).then(|| AckRequest { id, timeout_ms: self.ack_timeout.get() });
        let msg = match kind {
            op::LOGIN => ToHub::Login { req: id, username: a, password: b },
            op::LOGOUT => ToHub::Logout { req: id },
            op::REFRESH => ToHub::Refresh { req: id },
            op::TOKEN => ToHub::Token { req: id },
            op::BYE => ToHub::Bye,
            op::SUBSCRIBE => ToHub::Subscribe { event: a },
            op::UNSUBSCRIBE => ToHub::Unsubscribe { event: a },
            op::JOIN => ToHub::Join { req: id, room: a },
            op::LEAVE => ToHub::Leave { req: id, room: a },
            op::REPLY => ToHub::Reply { token: id, args: a, bins },
            op::EMIT | op::EMIT_VOLATILE | op::EMIT_ACK => {
                ToHub::Emit { seq: 0, event: a, args: b, bins, ack, volatile: kind == op::EMIT_VOLATILE }
            }
            op::ATTACH => {
                p.attach(post);
                return 0;
            }
            op::RESTART => {
                p.restart(post);
                return 0;
            }
            _ => return p.unconfirmed() as u32,
        };
        p.send(msg, post);
        0
    }

    /// A message from the hub.
    pub fn recv(&self, bytes: &[u8]) {
        let msg = self.page.borrow_mut().receive(bytes);
        // Handlers may call back into Core: only shared borrows are held from here on.
        let host = self.host.borrow();
        match msg {
            Ok(m) => deliver(&host, m),
            Err(_) => host.h(to_js::WARN, 0.0, 0.0, b"malformed message from the hub", &[]),
        }
    }
}

/// Hands one message to the JS client.
fn deliver(host: &Host, msg: FromHubRef<'_>) {
    let call = |kind, n: f64, a: &[u8], b: &[u8]| host.h(kind, n, 0.0, a, b);
    let some = |v: Option<u32>| v.map_or(f64::NAN, f64::from);
    match msg {
        FromHubRef::Welcome { status, .. } => {
            status_to(host, status);
            call(to_js::WELCOME, 0.0, &[], &[]);
        }
        FromHubRef::Status(s) => status_to(host, s),
        FromHubRef::Event { event, args, bins, reply, .. } => {
            bins.bytes().for_each(|b| call(to_js::BIN, 0.0, b, &[]));
            call(to_js::EVENT, some(reply), event.as_bytes(), args.as_bytes());
        }
        FromHubRef::Ack { id, args, bins } => {
            bins.bytes().for_each(|b| call(to_js::BIN, 0.0, b, &[]));
            call(to_js::ACK, id.into(), args.as_bytes(), &[]);
        }
        FromHubRef::AckFailed { id: req, reason: e }
        | FromHubRef::Done { req, error: Some(e) }
        | FromHubRef::Token { req, token: None, error: Some(e) } => call(to_js::FAIL, req.into(), e.as_bytes(), &[]),
        FromHubRef::Token { req, token: None, error: None } => call(to_js::FAIL, req.into(), b"no token", &[]),
        FromHubRef::Done { req, error: None } => call(to_js::OK, req.into(), &[], &[]),
        FromHubRef::Token { req, token: Some(t), .. } => host.h(to_js::OK, req.into(), 1.0, t.as_bytes(), &[]),
        FromHubRef::Tabs { tabs } => {
            let mut json = String::from("[");
            for t in tabs.strs() {
                if json.len() > 1 {
                    json.push(',');
                }
                write_string(&mut json, t);
            }
            json.push(']');
            call(to_js::TABS, 0.0, json.as_bytes(), &[]);
        }
        FromHubRef::Stored { .. } => {}
        FromHubRef::Refused { reason, .. } => call(to_js::WARN, 0.0, b"an emit was refused: ", reason.as_bytes()),
        FromHubRef::Clock { offset_ms, .. } => call(to_js::CLOCK, offset_ms as f64, &[], &[]),
        FromHubRef::Recovered { recovered } => call(to_js::RECOVERED, f64::from(u8::from(recovered)), &[], &[]),
        FromHubRef::Auth(a) => call(to_js::AUTH, 0.0, auth_json(&a).as_bytes(), &[]),
        FromHubRef::Error { message, .. } => call(to_js::ERROR, 0.0, message.as_bytes(), &[]),
    }
}

fn status_to(host: &Host, s: StatusRef<'_>) {
    host.h(to_js::STATUS, s.attempt.into(), s.delay_ms.into(), s.name().as_bytes(), s.text.as_bytes());
}

fn push_num(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    digits[i..].iter().for_each(|&d| out.push(d as char));
}

/// `{user, error, signedOut, expiresAt, telemetry: {refreshes, lastMs, maxMs, totalMs,
/// failures, signOuts}}` as JSON (the JS side adds `telemetry.meanMs`).
fn auth_json(a: &AuthRef<'_>) -> String {
    let mut o = String::from("{");
    let key = |o: &mut String, k: &str| {
        if !o.ends_with('{') {
            o.push(',');
        }
        write_string(o, k);
        o.push(':');
    };
    for (k, v) in [("user", a.user), ("error", a.error), ("signedOut", a.signed_out)] {
        key(&mut o, k);
        match v {
            Some(s) => write_string(&mut o, s),
            None => o.push_str("null"),
        }
    }
    key(&mut o, "expiresAt");
    match a.expires_at {
        Some(e) => push_num(&mut o, e),
        None => o.push_str("null"),
    }
    key(&mut o, "telemetry");
    o.push('{');
    for (k, n) in [("refreshes", a.refreshes.into()), ("lastMs", a.last_ms.into()), ("maxMs", a.max_ms.into()), ("totalMs", a.total_ms)] {
        key(&mut o, k);
        push_num(&mut o, n);
    }
    for (k, list) in [("failures", a.failures), ("signOuts", a.sign_outs)] {
        key(&mut o, k);
        o.push('{');
        for (name, n) in list.counts() {
            key(&mut o, name);
            push_num(&mut o, n.into());
        }
        o.push('}');
    }
    o.push_str("}}");
    o
}

/// Connects to a Socket.IO server through the shared hub (see `js/client.js` for the
/// options). `worker_url` is the URL of the worker bootstrap script. Resolves with the
/// client once the hub welcomed this tab.
#[wasm_bindgen]
pub fn connect(options: &JsValue, worker_url: &JsValue) -> Promise {
    let endpoint = Endpoint { url: String::new(), path: String::new(), namespace: String::new(), query: String::new() };
    let core = Core {
        host: RefCell::new(JsValue::UNDEFINED.unchecked_into()),
        page: RefCell::new(Page::new(String::new(), endpoint, None, Options::default())),
        bins: RefCell::default(),
        ack_timeout: Cell::new(0),
    };
    open(core, options, worker_url)
}

// The Rust API: typed bindings to the same JS client, for Rust front ends (Leptos, Yew,
// Dioxus) that depend on this crate. wasm-bindgen ships `js/client.js` with their bundle.
#[wasm_bindgen(module = "/js/client.js")]
extern "C" {
    /// A connection to a Socket.IO server, shared with every other tab through the hub.
    pub type Client;
    /// This tab's id (also in every other tab's `tabs`).
    #[wasm_bindgen(method, getter)]
    pub fn id(this: &Client) -> String;
    /// `connecting`, `connected`, `offline`, `reconnecting` or `disconnected`.
    #[wasm_bindgen(method, getter)]
    pub fn status(this: &Client) -> String;
    /// `{status, sid?, attempt?, delay?, reason?, recovered?}`.
    #[wasm_bindgen(method, getter, js_name = statusDetail)]
    pub fn status_detail(this: &Client) -> JsValue;
    /// Calls `f(detail)` on every status change (and once now).
    #[wasm_bindgen(method, js_name = onStatus)]
    pub fn on_status(this: &Client, f: &Function);
    /// The ids of every tab sharing this connection.
    #[wasm_bindgen(method, getter)]
    pub fn tabs(this: &Client) -> Array;
    /// Calls `f(tabs)` whenever a tab joins or leaves (and once now).
    #[wasm_bindgen(method, js_name = onTabs)]
    pub fn on_tabs(this: &Client, f: &Function);
    /// Calls `f(...args)` for every `event` the server sends to this tab.
    #[wasm_bindgen(method)]
    pub fn on(this: &Client, event: &str, f: &Function);
    /// Removes `f` (or, with `None`, every handler) for `event`.
    #[wasm_bindgen(method)]
    pub fn off(this: &Client, event: &str, f: Option<Function>);
    /// Sends `event` with `args`; a function as the last argument gets the server's ack.
    #[wasm_bindgen(method, variadic)]
    pub fn emit(this: &Client, event: &str, args: &Array);
    /// Sends `event` only if connected right now (never queued).
    #[wasm_bindgen(method, variadic, js_name = emitVolatile)]
    pub fn emit_volatile(this: &Client, event: &str, args: &Array);
    /// Resolves with the server's first ack argument; rejects after `ackTimeout`.
    #[wasm_bindgen(method, variadic, js_name = emitWithAck)]
    pub fn emit_with_ack(this: &Client, event: &str, args: &Array) -> Promise;
    /// Joins `room`: resolves once the server confirmed.
    #[wasm_bindgen(method)]
    pub fn join(this: &Client, room: &str) -> Promise;
    /// Leaves `room`.
    #[wasm_bindgen(method)]
    pub fn leave(this: &Client, room: &str) -> Promise;
    /// Rooms this tab is in.
    #[wasm_bindgen(method, getter)]
    pub fn rooms(this: &Client) -> Array;
    /// The sign-in state shared by every tab, or null until the hub knows.
    #[wasm_bindgen(method, getter)]
    pub fn auth(this: &Client) -> JsValue;
    /// Calls `f(auth)` whenever the sign-in state changes (and once now).
    #[wasm_bindgen(method, js_name = onAuth)]
    pub fn on_auth(this: &Client, f: &Function);
    /// Signs in every tab.
    #[wasm_bindgen(method)]
    pub fn login(this: &Client, username: &str, password: &str) -> Promise;
    /// Signs every tab out.
    #[wasm_bindgen(method)]
    pub fn logout(this: &Client) -> Promise;
    /// Asks for a token refresh (one request for all tabs).
    #[wasm_bindgen(method)]
    pub fn refresh(this: &Client) -> Promise;
    /// Bearer mode: the access token from the hub's memory.
    #[wasm_bindgen(method)]
    pub fn token(this: &Client) -> Promise;
    /// Emits the hub has not yet stored or delivered.
    #[wasm_bindgen(method, getter)]
    pub fn unconfirmed(this: &Client) -> u32;
    /// Detaches this tab from the hub; pending calls are rejected.
    #[wasm_bindgen(method)]
    pub fn close(this: &Client);
}

impl Client {
    /// The Rust API of `connect(options)`: resolves with the [`Client`] once the hub
    /// welcomed this tab (`wasm_bindgen_futures::JsFuture::from(..).await`, then
    /// `unchecked_into::<Client>()`).
    pub fn connect(options: &JsValue, worker_url: &str) -> Promise {
        connect(options, &JsValue::from_str(worker_url))
    }
}
