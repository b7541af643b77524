//! The hub's WebSockets: one per hub, its events reported to the core with the connection
//! number they belong to (frames of a replaced socket are ignored there).

use crate::{log, now, with_state};
use js_sys::{ArrayBuffer, Uint8Array};
use switchboard_shared::hub::{probe_url, HubId, Switchboard};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, MessageEvent, WebSocket};

#[wasm_bindgen]
extern "C" {
    /// `TextEncoder`, taking the JS string as it is: wasm-bindgen's own string passing copies
    /// ASCII one character at a time in JS, which made 16 KB frames cost ~0.2 ms each.
    type Utf8;
    #[wasm_bindgen(constructor, js_class = "TextEncoder")]
    fn new() -> Utf8;
    /// `encodeInto`: straight into wasm memory (`dest` is a view of it), no array in between.
    #[wasm_bindgen(method, js_class = "TextEncoder", js_name = encodeInto)]
    fn encode_into(this: &Utf8, text: &JsValue, dest: &mut [u8]) -> Encoded;
    /// What `encodeInto` did.
    type Encoded;
    #[wasm_bindgen(method, getter)]
    fn written(this: &Encoded) -> u32;
}

thread_local! {
    static UTF8: Utf8 = Utf8::new();
    /// The bootstrap's `takeEarly(url)`: the WebSocket it opened from the first tab's Hello
    /// while this wasm loaded, if that socket is for `url`.
    static EARLY: std::cell::RefCell<Option<js_sys::Function>> = const { std::cell::RefCell::new(None) };
}

/// The bootstrap hands its `takeEarly(url)` (see static/bundle/switchboard-worker.js): the
/// first socket the hub opens is the one the bootstrap opened while the wasm loaded, if it is
/// for the same URL, so the handshake ran while the wasm compiled.
#[wasm_bindgen(js_name = useEarlySocket)]
pub fn use_early_socket(take: js_sys::Function) {
    EARLY.with(|e| *e.borrow_mut() = Some(take));
}

/// The early socket for `url` (once: the bootstrap gives it up, or closes one for another
/// URL), and the CONNECT frame the bootstrap sent on it (`sbConnect`), if it got that far.
/// What it heard so far the bootstrap dispatches again once this turn of the hub is over (a
/// microtask), to the handlers [`Socket::open`] has set by then, before any later event of
/// the socket (those come in tasks of their own).
fn early(url: &str) -> Option<(WebSocket, Option<String>)> {
    let take = EARLY.with(|e| e.borrow_mut().take())?;
    let ws = take.call1(&JsValue::NULL, &JsValue::from_str(url)).ok()?.dyn_into::<WebSocket>().ok()?;
    let connect = js_sys::Reflect::get(&ws, &JsValue::from_str("sbConnect")).ok().and_then(|v| v.as_string());
    Some((ws, connect))
}

/// A WebSocket text frame as UTF-8, written into wasm memory by the browser.
fn frame_text(data: &JsValue) -> String {
    // A UTF-16 code unit is at most 3 bytes of UTF-8 (a surrogate pair, two units, is 4).
    let units = data.unchecked_ref::<js_sys::JsString>().length() as usize;
    let mut bytes = vec![0u8; units * 3];
    let written = UTF8.with(|e| e.encode_into(data, &mut bytes).written()) as usize;
    bytes.truncate(written);
    // TextEncoder output is UTF-8, so this never takes the lossy path.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// An open WebSocket and its handlers (removed, and the socket closed, on drop).
pub struct Socket {
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

impl Socket {
    /// Opens `url` for `(hub, conn)`. A socket that cannot even be created is reported as a
    /// failed attempt; the core schedules the retry.
    pub fn open(hub: HubId, conn: u32, url: &str, sb: &mut Switchboard) -> Option<Socket> {
        let ws = match early(url) {
            Some((ws, connect)) => {
                if let Some(frame) = connect {
                    sb.handle_early_connect(hub, conn, &frame);
                }
                ws
            }
            None => match WebSocket::new(url) {
                Ok(ws) => ws,
                Err(e) => {
                    log(&format!("cannot open {url}: {e:?}"));
                    sb.handle_socket_closed(hub, conn, now());
                    return None;
                }
            },
        };
        ws.set_binary_type(BinaryType::Arraybuffer);
        // A socket that closes before it opened failed its attempt: the browser says nothing
        // of why, so the same server is asked over HTTP (crate::http::probe) first.
        let opened = std::rc::Rc::new(std::cell::Cell::new(false));
        let seen = opened.clone();
        let on_open = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            seen.set(true);
            with_state(|s, now| s.sb.handle_socket_open(hub, conn, now))
        });
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
        let url = url.to_string();
        let on_close = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            let Some(probe_url) = (!opened.get()).then(|| probe_url(&url)).flatten() else {
                return with_state(|s, now| s.sb.handle_socket_closed(hub, conn, now));
            };
            wasm_bindgen_futures::spawn_local(async move {
                let probe = crate::http::probe(&probe_url).await;
                let origin = crate::scope().location().origin();
                with_state(|s, now| s.sb.handle_socket_failed(hub, conn, &probe, &origin, now));
            });
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Some(Socket { ws, _handlers: [on_open, on_message, on_close] })
    }

    pub fn send_text(&self, text: &str) {
        if let Err(e) = self.ws.send_with_str(text) {
            log(&format!("send failed: {e:?}"));
        }
    }

    pub fn send_binary(&self, bytes: &[u8]) {
        if let Err(e) = self.ws.send_with_u8_array(bytes) {
            log(&format!("send failed: {e:?}"));
        }
    }
}
