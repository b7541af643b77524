//! The hub's HTTP requests (sign-in): with the browser's cookies and the CSRF header.

use crate::{describe, log, scope};
use switchboard_shared::contract;
use switchboard_shared::hub::{Probe, PROBE_READ_MAX};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Returns the status (0 for a network error) and the body text.
pub async fn fetch(
    post: bool,
    url: &str,
    body: Option<&str>,
    bearer: bool,
    token: Option<&str>,
    trace: Option<&str>,
) -> (u16, String) {
    let init = web_sys::RequestInit::new();
    init.set_method(if post { "POST" } else { "GET" });
    init.set_credentials(web_sys::RequestCredentials::Include);
    if let Ok(headers) = web_sys::Headers::new() {
        let _ = headers.set(contract::CSRF_HEADER, "1");
        if bearer {
            let _ = headers.set(contract::MODE_HEADER, "bearer");
        }
        if let Some(t) = token {
            let _ = headers.set("authorization", &format!("Bearer {t}"));
        }
        if let Some(t) = trace {
            let _ = headers.set("traceparent", t);
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

/// Asks `url` (the server's polling handshake) what a WebSocket that never opened could not
/// tell: a readable answer, an answer CORS hides, or none (see `switchboard_shared::hub::Probe`).
pub async fn probe(url: &str) -> Probe {
    let get = |mode| {
        let init = web_sys::RequestInit::new();
        init.set_mode(mode);
        init.set_credentials(web_sys::RequestCredentials::Include);
        scope().fetch_with_str_and_init(url, &init)
    };
    match wasm_bindgen_futures::JsFuture::from(get(web_sys::RequestMode::Cors)).await {
        Ok(r) => {
            let res = r.unchecked_into::<web_sys::Response>();
            Probe::Http(res.status(), body_prefix(&res, PROBE_READ_MAX).await)
        }
        Err(_) => match wasm_bindgen_futures::JsFuture::from(get(web_sys::RequestMode::NoCors)).await {
            Ok(_) => Probe::Opaque,
            Err(_) => Probe::Unreachable,
        },
    }
}

/// At most `max` bytes of `res`'s body as text (lossy UTF-8); the rest is cancelled unread, so
/// an endless or huge answer costs no more than `max`.
async fn body_prefix(res: &web_sys::Response, max: usize) -> String {
    let Some(reader) = res.body().and_then(|b| b.get_reader().dyn_into::<web_sys::ReadableStreamDefaultReader>().ok())
    else {
        return String::new();
    };
    let mut bytes = Vec::new();
    while bytes.len() < max {
        let Ok(chunk) = wasm_bindgen_futures::JsFuture::from(reader.read()).await else { break };
        let field = |name: &str| js_sys::Reflect::get(&chunk, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED);
        let value = field("value");
        if field("done").as_bool() != Some(false) || !value.is_instance_of::<js_sys::Uint8Array>() {
            break;
        }
        let part = js_sys::Uint8Array::from(value);
        let take = (max - bytes.len()).min(part.length() as usize) as u32;
        bytes.extend(part.subarray(0, take).to_vec());
    }
    let _ = reader.cancel();
    String::from_utf8_lossy(&bytes).into_owned()
}
