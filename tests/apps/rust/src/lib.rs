//! A Rust front end on Switchboard's Rust API, as a Leptos, Yew or Dioxus app would use it:
//! connect, wait until connected, subscribe, emit with an ack, join a room. Built to wasm by
//! the project's build (`build.rs`, beside the bundle) and run in two tabs by
//! `tests/rust_app.rs`, which reads what `run` reports.

use js_sys::{Array, Function, Object, Promise, Reflect};
use switchboard_page_client::Client;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

fn set(target: &JsValue, key: &str, value: &JsValue) -> Result<(), JsValue> {
    Reflect::set(target, &key.into(), value).map(drop)
}

/// Connects to `server` through the hub at `worker_url`; every `news` event goes to
/// `on_news`. Resolves with `{id, ack, rooms, tabs, client}` once it has emitted with an ack
/// and joined `room`.
#[wasm_bindgen]
pub async fn run(server: String, worker_url: String, room: String, on_news: Function) -> Result<JsValue, JsValue> {
    let options = Object::new();
    set(&options, "url", &server.into())?;
    let client: Client = JsFuture::from(Client::connect(&options, &worker_url)).await?.unchecked_into();
    // Connected: `onStatus` calls back at once and on every change.
    let connected = Promise::new(&mut |resolve: Function, _| {
        let f = Closure::<dyn FnMut(JsValue)>::new(move |detail: JsValue| {
            if Reflect::get(&detail, &"status".into()).ok().and_then(|s| s.as_string()).as_deref() == Some("connected")
            {
                let _ = resolve.call0(&JsValue::NULL);
            }
        });
        client.on_status(f.as_ref().unchecked_ref());
        f.forget();
    });
    JsFuture::from(connected).await?;
    client.on("news", &on_news);
    let ack = JsFuture::from(client.emit_with_ack("echo", &Array::of1(&"from rust".into()))).await?;
    JsFuture::from(client.join(&room)).await?;
    let report = Object::new();
    set(&report, "id", &client.id().into())?;
    set(&report, "ack", &ack)?;
    set(&report, "rooms", &client.rooms())?;
    set(&report, "tabs", &client.tabs())?;
    set(&report, "client", &client)?;
    Ok(report.into())
}
