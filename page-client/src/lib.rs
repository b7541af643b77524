//! The page client for Rust front ends (the JS bundle's tabs load `js/core.js`, the same core
//! in JS, held to this one by `tests/js_core.rs`). Two halves:
//! - `Core` (Rust, this file): the tab's protocol state (`switchboard_shared::page::Page`:
//!   Hello, subscriptions, rooms, the durable outbox) and the postcard codec; it turns calls
//!   into `ToHub` bytes and `FromHub` bytes into calls on its host.
//! - `js/client.js` (a wasm-bindgen snippet, shipped with the bindings): the `Client` object
//!   pages use, and the platform plumbing (SharedWorker, MessagePort, Web Locks, page
//!   lifecycle events, JSON with binary attachments, promises and handler lists).
//!
//! The split keeps the bundle under its budget (socket.io-client's 12.9 KB gzip): object
//! building, callbacks and promises cost a few bytes of JS but hundreds of bytes of wasm
//! and glue each. Invariants: every promise handed out settles (ack, error, timeout from the
//! hub, or close); `Core` never holds a borrow while it calls its host, so handlers may call
//! back into the client; nothing from the hub or the page panics (errors are values).

// In the JS bundle (built without `rust-api`) the client is no_std: a small allocator and an
// aborting panic handler keep it within its budget (std's panic and formatting machinery
// cost ~4 KB gzip). As a library of a Rust front end (`rust-api`) it is an ordinary crate:
// the app brings std, its allocator and its panic handler.
#![cfg_attr(all(target_arch = "wasm32", not(feature = "rust-api")), no_std)]

extern crate alloc;

#[cfg(all(target_arch = "wasm32", not(feature = "rust-api")))]
#[global_allocator]
// SAFETY: wasm32 without the atomics feature is single-threaded.
static ALLOC: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

#[cfg(all(target_arch = "wasm32", not(feature = "rust-api")))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // Nothing here panics on input (errors are values); this is only a last resort.
    core::arch::wasm32::unreachable()
}

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use switchboard_shared::page::Page;
use switchboard_shared::port::{AckRequest, AuthState, Bytes, Endpoint, FromHub, Options, Status, ToHub};
use switchboard_shared::protocol::ACK_TIMEOUT_MS;
use wasm_bindgen::prelude::*;

// `js/client.js` imports `js/protocol.js` (generated from the protocol table by the root
// build.rs); naming the module here makes wasm-bindgen ship it beside client.js.
#[wasm_bindgen(module = "/js/protocol.js")]
extern "C" {
    #[allow(dead_code)]
    fn whole(x: f64, d: f64) -> f64;
}

#[wasm_bindgen(module = "/js/client.js")]
extern "C" {
    /// Everything `Core` tells the JS client `c`: `kind` is one of [`to_js`], `n`/`m`
    /// numbers, `a`/`b` bytes (UTF-8 text unless the kind says bytes).
    fn h(c: u32, kind: u32, n: f64, m: f64, a: &[u8], b: &[u8]);
}

/// The kinds of `h` and of [`op`], from the protocol table (`switchboard_shared::protocol`);
/// `js/client.js` and `js/core.js` import the same, generated, as `REPORT_*` and `OP_*`.
pub use switchboard_shared::port::{op, report as to_js};

/// One client's protocol state.
struct Core {
    page: RefCell<Page>,
    /// Binary attachments for the next emit or reply, staged by `bin`.
    bins: RefCell<Vec<Bytes>>,
    ack_timeout: u32,
}

/// wasm32 without atomics is single-threaded: a plain cell is safe in a static.
struct Local<T>(T);
// SAFETY: the page client runs on one thread (wasm32-unknown-unknown without atomics).
unsafe impl<T> Sync for Local<T> {}

/// Every client of this page, by handle. A client lives as long as the page (a closed one
/// keeps its few hundred bytes), so handing out `&'static` is sound and no borrow of this
/// list is held while a client runs.
static CORES: Local<RefCell<Vec<&'static Core>>> = Local(RefCell::new(Vec::new()));

fn core(c: u32) -> Option<&'static Core> {
    CORES.0.try_borrow().ok()?.get(c as usize).copied()
}

/// Text from the JS client (TextEncoder output, so valid UTF-8; anything else is empty).
fn text(bytes: &[u8]) -> String {
    core::str::from_utf8(bytes).unwrap_or_default().into()
}

/// Creates a client; returns its handle. `strs`: this tab's id, the server URL (origin),
/// the Socket.IO path, the namespace, the query string and the CONNECT auth payload (JSON,
/// empty for none), UTF-8, each ended by a NUL. `n`: the `Options` fields in table order
/// (`Options::from_numbers`: booleans as 0/1, NaN where absent), then the ack timeout.
#[wasm_bindgen]
pub fn create(strs: &[u8], n: &[f64]) -> u32 {
    let options = Options::from_numbers(n);
    let ack_timeout = n.get(Options::FIELDS).filter(|x| !x.is_nan()).map_or(ACK_TIMEOUT_MS, |&x| x as u32);
    let mut s = strs.split(|&b| b == 0).map(text);
    let mut next = || s.next().unwrap_or_default();
    let (tab, url, path, namespace, query, auth) = (next(), next(), next(), next(), next(), next());
    let page = Page::new(tab, Endpoint { url, path, namespace, query }, Some(auth).filter(|a| !a.is_empty()), options);
    // Never borrowed here: `create` is not re-entered. (No panicking borrow: its message
    // would pull core::fmt into the wasm.)
    let Ok(mut cores) = CORES.0.try_borrow_mut() else { return u32::MAX };
    let core = Core { page: RefCell::new(page), bins: RefCell::default(), ack_timeout };
    cores.push(Box::leak(Box::new(core)));
    cores.len() as u32 - 1
}

/// Stages a binary attachment for client `c`'s next emit or reply.
#[wasm_bindgen]
pub fn bin(c: u32, bytes: &[u8]) {
    if let Some(core) = core(c) {
        if let Ok(mut bins) = core.bins.try_borrow_mut() {
            bins.push(Bytes(bytes.to_vec()));
        }
    }
}

/// Everything client `c` sends, by `kind` ([`op`]); `a` and `b` are the UTF-8 strings the
/// kind takes (event and JSON args, room, event, username and password), `token` the
/// server's ack token for `REPLY`. Returns the request id the hub's answer will carry (for
/// the kinds that get one), or for `COUNT` the number of durable emits the hub has not yet
/// confirmed; 0 otherwise.
#[wasm_bindgen]
pub fn op(c: u32, kind: u32, token: u32, a: &[u8], b: &[u8]) -> u32 {
    let Some(core) = core(c) else { return 0 };
    let (a, b) = (text(a), text(b));
    let bins = core.bins.try_borrow_mut().map(|mut b| core::mem::take(&mut *b)).unwrap_or_default();
    // Posting only calls postMessage: it never re-enters Core.
    let post = &mut |m: &[u8]| h(c, to_js::POST, 0.0, 0.0, m, &[]);
    let Ok(mut p) = core.page.try_borrow_mut() else { return 0 };
    let asks = matches!(kind, op::LOGIN | op::LOGOUT | op::REFRESH | op::TOKEN | op::JOIN | op::LEAVE | op::EMIT_ACK);
    let req = if asks { p.next_req() } else { 0 };
    let ack = (kind == op::EMIT_ACK).then_some(AckRequest { id: req, timeout_ms: core.ack_timeout });
    let msg = match kind {
        op::LOGIN => ToHub::Login { req, username: a, password: b },
        op::LOGOUT => ToHub::Logout { req },
        op::REFRESH => ToHub::Refresh { req },
        op::TOKEN => ToHub::Token { req },
        op::BYE => ToHub::Bye,
        op::SUBSCRIBE => ToHub::Subscribe { event: a },
        op::UNSUBSCRIBE => ToHub::Unsubscribe { event: a },
        op::JOIN => ToHub::Join { req, room: a },
        op::LEAVE => ToHub::Leave { req, room: a },
        op::REPLY => ToHub::Reply { token, args: a, bins },
        op::PRIORITY => ToHub::Priority {
            level: (token & 3) as u8,
            scope: (token >> 2 & 1) as u8,
            // Decimal digits from our own JS (core's parse would cost the page ~190 B gzip).
            term: a.bytes().fold(0, |n: u64, d| n.wrapping_mul(10).wrapping_add(u64::from(d.wrapping_sub(b'0')))),
        },
        op::EMIT_TO => {
            let (room, event) = a.split_once('\0').unwrap_or_default();
            ToHub::EmitTo { seq: 0, room: room.into(), event: event.into(), args: b, bins }
        }
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
    drop(p);
    if matches!(kind, op::JOIN | op::LEAVE) {
        report_rooms(c, core);
    }
    req
}

/// Tells the JS client its room list (after a join or a leave). The borrow is held while JS
/// runs, which is safe here: ITEM and ROOMS only store values and call nothing back.
fn report_rooms(c: u32, core: &Core) {
    let Ok(p) = core.page.try_borrow() else { return };
    for r in p.rooms() {
        h(c, to_js::ITEM, 0.0, 1.0, r.as_bytes(), &[]);
    }
    h(c, to_js::ROOMS, 0.0, 0.0, &[], &[]);
}

/// A port message from the hub for client `c`: one or more messages back to back.
#[wasm_bindgen]
pub fn recv(c: u32, bytes: &[u8]) {
    let Some(core) = core(c) else { return };
    let mut rest = bytes;
    while !rest.is_empty() {
        let msg = match core.page.try_borrow_mut() {
            Ok(mut p) => p.receive(rest),
            Err(_) => return,
        };
        // Handlers may call back into the client: no borrow is held from here on.
        match msg {
            Ok((m, tail)) => {
                deliver(c, m);
                rest = tail;
            }
            Err(_) => return h(c, to_js::WARN, 0.0, 0.0, b"malformed message from the hub", &[]),
        }
    }
}

/// Hands one message to the JS client `c`.
fn deliver(c: u32, msg: FromHub) {
    let call = |kind, n: f64, m: f64, a: &[u8], b: &[u8]| h(c, kind, n, m, a, b);
    let item = |s: &Option<String>| {
        call(to_js::ITEM, 0.0, if s.is_some() { 1.0 } else { 2.0 }, s.as_deref().unwrap_or("").as_bytes(), &[])
    };
    let number = |n: f64| call(to_js::ITEM, n, 0.0, &[], &[]);
    let bins = |list: &[Bytes]| list.iter().for_each(|b| call(to_js::BIN, 0.0, 0.0, &b.0, &[]));
    match &msg {
        FromHub::Welcome { status: s, .. } | FromHub::Status(s) => {
            let (attempt, delay, text) = match s {
                Status::Connected { sid: t } | Status::Disconnected { reason: t } | Status::Failed { reason: t } => {
                    (0, 0, t.as_str())
                }
                Status::Reconnecting { attempt, delay_ms, reason } => (*attempt, *delay_ms, reason.as_str()),
                Status::Connecting | Status::Offline => (0, 0, ""),
            };
            call(to_js::STATUS, attempt.into(), delay.into(), s.name().as_bytes(), text.as_bytes());
            if let FromHub::Welcome { .. } = msg {
                call(to_js::WELCOME, 0.0, 0.0, &[], &[]);
            }
        }
        FromHub::Event { event, args, bins: b, reply, .. } => {
            bins(b);
            call(to_js::EVENT, reply.map_or(f64::NAN, f64::from), 0.0, event.as_bytes(), args.as_bytes());
        }
        FromHub::Ack { id, args, bins: b } => {
            bins(b);
            call(to_js::ACK, (*id).into(), 0.0, args.as_bytes(), &[]);
        }
        FromHub::AckFailed { id: req, reason: e }
        | FromHub::Done { req, error: Some(e) }
        | FromHub::Token { req, token: None, error: Some(e) } => {
            call(to_js::FAIL, (*req).into(), 0.0, e.as_bytes(), &[])
        }
        FromHub::Token { req, token: None, error: None } => call(to_js::FAIL, (*req).into(), 0.0, b"no token", &[]),
        FromHub::Done { req, error: None } => call(to_js::OK, (*req).into(), 0.0, &[], &[]),
        FromHub::Token { req, token: Some(t), .. } => call(to_js::OK, (*req).into(), 1.0, t.as_bytes(), &[]),
        FromHub::Tabs { tabs } => {
            tabs.iter().for_each(|t| call(to_js::ITEM, 0.0, 1.0, t.as_bytes(), &[]));
            call(to_js::TABS, 0.0, 0.0, &[], &[]);
        }
        FromHub::Stored { .. } => {}
        FromHub::Refused { reason, .. } => call(to_js::WARN, 0.0, 0.0, b"emit refused: ", reason.as_bytes()),
        FromHub::Clock { offset_ms, .. } => call(to_js::CLOCK, *offset_ms as f64, 0.0, &[], &[]),
        FromHub::Recovered { recovered } => call(to_js::RECOVERED, f64::from(u8::from(*recovered)), 0.0, &[], &[]),
        FromHub::Auth(AuthState { user, expires_at, error, signed_out, telemetry: t }) => {
            [user, error, signed_out].into_iter().for_each(item);
            number(expires_at.map_or(f64::NAN, |e| e as f64));
            [t.refreshes, t.last_ms, t.max_ms].into_iter().for_each(|n| number(n.into()));
            number(t.total_ms as f64);
            for (name, n) in t.failures.iter().chain(&t.sign_outs) {
                call(to_js::ITEM, 0.0, 1.0, name.as_bytes(), &[]);
                number((*n).into());
            }
            call(to_js::AUTH, t.failures.len() as f64, 0.0, &[], &[]);
        }
        FromHub::Error { code, message } => call(to_js::ERROR, code.kind().into(), 0.0, message.as_bytes(), &[]),
    }
}

#[cfg(feature = "rust-api")]
pub use api::{Client, State};

#[cfg(feature = "rust-api")]
mod api {
    use super::{bin, create, op, recv};
    use alloc::string::String;
    use alloc::vec::Vec;
    use js_sys::{Array, Function, Promise};
    use wasm_bindgen::prelude::*;

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
        /// Rooms this tab is in: the hierarchy rooms the server assigned (`user:`,
        /// `session:`, `device:`, its own `tab:`) and those it joined.
        #[wasm_bindgen(method, getter)]
        pub fn rooms(this: &Client) -> Array;
        /// `[{user, device, tabs}]`: who is in `room` (a room this tab is in; needs a server
        /// that keeps presence).
        #[wasm_bindgen(method)]
        pub fn members(this: &Client, room: &str) -> Array;
        /// Calls `f(members)` whenever someone joins or leaves `room` (and once now).
        #[wasm_bindgen(method, js_name = onMembers)]
        pub fn on_members(this: &Client, room: &str, f: &Function);
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
        /// `{isLeader, leader, term, scope}`: which tab leads (a tab id; `term` is the fencing
        /// token), or null until the hub said.
        #[wasm_bindgen(method, getter)]
        pub fn leader(this: &Client) -> JsValue;
        /// Calls `f(leader)` whenever the leader or its term changes (and once now).
        #[wasm_bindgen(method, js_name = onLeader)]
        pub fn on_leader(this: &Client, f: &Function);
        /// Sends `event` only while this tab leads, carrying its term: rejects when the tab
        /// does not lead or its term is stale (checked by the hub and by the server).
        #[wasm_bindgen(method, variadic, js_name = emitAsLeader)]
        pub fn emit_as_leader(this: &Client, event: &str, args: &Array) -> Promise;
        /// Emits the hub has not yet stored or delivered.
        #[wasm_bindgen(method, getter)]
        pub fn unconfirmed(this: &Client) -> u32;
        /// Detaches this tab from the hub; pending calls are rejected.
        #[wasm_bindgen(method)]
        pub fn close(this: &Client);
    }

    // Shared state (`page-client/js/state.js`, shipped with the bindings): `client.state`.
    #[wasm_bindgen(module = "/js/state.js")]
    extern "C" {
        /// One state per signed-in user, shared by all their tabs and devices.
        pub type State;
        /// Gives `client` its state once the hub's snapshot is in; resolves with the [`State`].
        #[wasm_bindgen(js_name = attachState)]
        pub fn attach_state(client: &Client) -> Promise;
        /// The hub's latest value of `key` (undefined if none).
        #[wasm_bindgen(method)]
        pub fn get(this: &State, key: &str) -> JsValue;
        /// Resolves with the value the server settled on.
        #[wasm_bindgen(method)]
        pub fn set(this: &State, key: &str, value: &JsValue) -> Promise;
        #[wasm_bindgen(method)]
        pub fn delete(this: &State, key: &str) -> Promise;
        #[wasm_bindgen(method)]
        pub fn keys(this: &State) -> Array;
        /// Calls `f({value, version, conflict})` on every change of `key`; returns a function
        /// that stops it.
        #[wasm_bindgen(method)]
        pub fn subscribe(this: &State, key: &str, f: &Function) -> Function;
        /// This tab's writes not yet settled.
        #[wasm_bindgen(method, getter)]
        pub fn pending(this: &State) -> u32;
    }

    #[wasm_bindgen(module = "/js/client.js")]
    extern "C" {
        /// Hands the Rust core's entry points to the JS client (the JS bundle passes the glue's
        /// exports instead).
        #[wasm_bindgen(js_name = use)]
        fn use_core(core: &JsValue);
        #[wasm_bindgen(js_name = open)]
        fn open_client(options: &JsValue, worker_url: &str) -> Promise;
    }

    impl Client {
        /// The Rust API of `connect(options)`: resolves with the [`Client`] once the hub
        /// welcomed this tab (`wasm_bindgen_futures::JsFuture::from(..).await`, then
        /// `unchecked_into::<Client>()`). `worker_url`: the hub bootstrap
        /// (`switchboard-worker.js` of the bundle).
        pub fn connect(options: &JsValue, worker_url: &str) -> Promise {
            let entry = js_sys::Object::new();
            let set = |name: &str, f: JsValue| drop(js_sys::Reflect::set(&entry, &name.into(), &f));
            set(
                "create",
                Closure::<dyn Fn(Vec<u8>, Vec<f64>) -> u32>::new(|s: Vec<u8>, n: Vec<f64>| create(&s, &n))
                    .into_js_value(),
            );
            set("bin", Closure::<dyn Fn(u32, Vec<u8>)>::new(|c, b: Vec<u8>| bin(c, &b)).into_js_value());
            set(
                "op",
                Closure::<dyn Fn(u32, u32, u32, Vec<u8>, Vec<u8>) -> u32>::new(|c, k, i, a: Vec<u8>, b: Vec<u8>| {
                    op(c, k, i, &a, &b)
                })
                .into_js_value(),
            );
            set("recv", Closure::<dyn Fn(u32, Vec<u8>)>::new(|c, b: Vec<u8>| recv(c, &b)).into_js_value());
            use_core(&entry);
            open_client(options, worker_url)
        }
    }
}
