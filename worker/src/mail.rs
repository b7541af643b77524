//! Messages to tabs, coalesced while the hub is busy. The first message after a quiet spell
//! goes out at once and opens a window that lasts until the next task of this worker; what
//! the hub posts meanwhile waits and leaves together, one postMessage per tab (the bytes of
//! several port messages back to back). With 20 tabs on 2 cores a postMessage cost ~60 µs
//! and was the hub's bottleneck under load.

use crate::{log, with_state};
use js_sys::Uint8Array;
use switchboard_shared::hub::TabKey;
use switchboard_shared::vecmap::VecMap;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{MessageChannel, MessageEvent, MessagePort};

/// A batch for one tab leaves early once it is this large.
const MAX_BATCH: usize = 1 << 20;

/// A tab's port and its message handler (removed on drop).
pub struct Port {
    port: MessagePort,
    _onmessage: Closure<dyn FnMut(MessageEvent)>,
}

impl Port {
    pub fn new(port: MessagePort, onmessage: Closure<dyn FnMut(MessageEvent)>) -> Port {
        port.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
        port.start();
        Port { port, _onmessage: onmessage }
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        self.port.set_onmessage(None);
        self.port.close();
    }
}

pub struct Mail {
    ports: VecMap<TabKey, Port>,
    pending: VecMap<TabKey, Vec<u8>>,
    window: bool,
    /// Schedules the window's end; without it every message goes out at once.
    channel: Option<MessageChannel>,
    _on_flush: Closure<dyn FnMut(JsValue)>,
}

fn post(port: &MessagePort, tab: TabKey, bytes: &[u8]) {
    // A fresh copy per post, handed over (transferred) rather than cloned again.
    let copy = Uint8Array::from(bytes);
    if let Err(e) = port.post_message_with_transferable(&copy, &js_sys::Array::of1(&copy.buffer())) {
        log(&format!("post to tab {tab} failed: {e:?}"));
    }
}

impl Mail {
    pub fn new() -> Mail {
        let channel = MessageChannel::new().ok();
        let on_flush = Closure::<dyn FnMut(JsValue)>::new(|_| with_state(|s, _| s.mail.flush()));
        if let Some(c) = &channel {
            c.port1().set_onmessage(Some(on_flush.as_ref().unchecked_ref()));
        }
        Mail { ports: VecMap::new(), pending: VecMap::new(), window: false, channel, _on_flush: on_flush }
    }

    pub fn add(&mut self, tab: TabKey, port: Port) {
        self.ports.insert(tab, port);
    }

    /// The tab is gone: its port closes and nothing more is sent to it.
    pub fn remove(&mut self, tab: TabKey) {
        self.ports.remove(&tab);
        self.pending.remove(&tab);
    }

    /// The tabs with a port.
    pub fn tabs(&self) -> Vec<TabKey> {
        self.ports.keys().copied().collect()
    }

    pub fn ports(&self) -> usize {
        self.ports.len()
    }

    fn open_window(&mut self) {
        if let (false, Some(c)) = (self.window, &self.channel) {
            self.window = c.port2().post_message(&JsValue::NULL).is_ok();
        }
    }

    /// Sends `bytes` to `tab` now, or with the next batch while a window is open.
    pub fn send(&mut self, tab: TabKey, bytes: &[u8]) {
        let Some(p) = self.ports.get(&tab) else { return };
        if !self.window {
            post(&p.port, tab, bytes);
            self.open_window();
            return;
        }
        let batch = self.pending.get_or_insert_with(tab, Vec::new);
        batch.extend_from_slice(bytes);
        if batch.len() >= MAX_BATCH {
            post(&p.port, tab, &std::mem::take(batch));
        }
    }

    /// The window's task: sends every batch; the window stays open while batches form.
    fn flush(&mut self) {
        self.window = false;
        let pending = std::mem::take(&mut self.pending);
        for (tab, batch) in pending.iter().filter(|(_, b)| !b.is_empty()) {
            if let Some(p) = self.ports.get(tab) {
                post(&p.port, *tab, batch);
            }
        }
        if pending.values().any(|b| !b.is_empty()) {
            self.open_window();
        }
    }
}
