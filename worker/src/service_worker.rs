//! The service-worker role (`switchboard-sw.js`): `sync` delivers the stored queue when no
//! tab (and so no hub) is open; `periodicsync` refreshes the sign-in. No ports, no hub lock.

use crate::{http, locks, log, scope, storage, with_state, STATE};
use js_sys::Promise;
use switchboard_shared::contract;
use wasm_bindgen::prelude::*;

thread_local! {
    /// Set when this code runs as the service worker.
    static SERVICE_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

pub fn active() -> bool {
    SERVICE_WORKER.with(|m| m.get())
}

/// Resolves when done, with what is left undelivered (sync) or the HTTP status (refresh).
#[wasm_bindgen(js_name = serviceWorker)]
pub fn service_worker(event: String) -> Promise {
    SERVICE_WORKER.with(|m| m.set(true));
    wasm_bindgen_futures::future_to_promise(async move {
        match event.as_str() {
            "sync" => flush().await,
            "periodicsync" => {
                let origin = scope().location().origin();
                let url = format!("{origin}{}refresh", contract::AUTH_PATH);
                let (status, _) = http::fetch(true, &url, None, false, None, None).await;
                log(&format!("background refresh: HTTP {status}"));
                Ok(JsValue::from(status))
            }
            other => Err(JsValue::from_str(&format!(
                "switchboard service worker: unknown event {}",
                switchboard_shared::json::Quoted(other)
            ))),
        }
    })
}

async fn flush() -> Result<JsValue, JsValue> {
    // A hub that is ending (its last tab just closed) may hold its lock a moment longer:
    // look again for up to 3 s before leaving the queue to it.
    let mut looks = 0;
    while locks::hub_alive().await {
        looks += 1;
        if looks > 30 {
            return Ok(JsValue::from_str("a hub is running and delivers the queue itself"));
        }
        let pause = Promise::new(&mut |resolve, _| {
            let _ = scope().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 100);
        });
        wasm_bindgen_futures::JsFuture::from(pause).await?;
    }
    let (db, records) = storage::open().await?;
    let count = records.len();
    let mut setup = Some((db, records));
    let done = Promise::new(&mut |resolve, _| {
        if let Some((db, records)) = setup.take() {
            with_state(move |s, now| {
                s.storage.set_db(db);
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
    log(&format!("service worker sync: {count} stored emits, {left} left undelivered"));
    Ok(JsValue::from(left as u32))
}
