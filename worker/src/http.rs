//! The hub's HTTP requests (sign-in): with the browser's cookies and the CSRF header.

use crate::{describe, log, scope};
use switchboard_shared::contract;
use switchboard_shared::hub::Probe;
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
            let text = match res.text() {
                Ok(p) => wasm_bindgen_futures::JsFuture::from(p).await.ok().and_then(|t| t.as_string()),
                Err(_) => None,
            };
            Probe::Http(res.status(), text.unwrap_or_default())
        }
        Err(_) => match wasm_bindgen_futures::JsFuture::from(get(web_sys::RequestMode::NoCors)).await {
            Ok(_) => Probe::Opaque,
            Err(_) => Probe::Unreachable,
        },
    }
}
