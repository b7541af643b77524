//! Web Locks: the hub holds its lifetime lock (pages wait on it to notice the hub's death);
//! the hub waits on each tab's lifetime lock to notice a tab that vanished without a word.

use crate::{describe, log, scope, with_state};
use js_sys::{Function, Promise, Reflect};
use switchboard_shared::contract;
use switchboard_shared::hub::TabKey;
use switchboard_shared::vecmap::VecMap;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks` (Web Locks API), bound by hand: web-sys only has it behind its
    /// unstable-API cfg.
    type LockManager;
    #[wasm_bindgen(method, catch)]
    fn request(this: &LockManager, name: &str, callback: &Function) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = request)]
    fn request_with(this: &LockManager, name: &str, options: &JsValue, callback: &Function)
        -> Result<Promise, JsValue>;
}

/// `navigator.locks`, or None where the Web Locks API is missing.
fn lock_manager() -> Option<LockManager> {
    let locks = Reflect::get(&scope().navigator(), &JsValue::from_str("locks")).ok()?;
    (!locks.is_undefined()).then(|| locks.unchecked_into())
}

/// The callbacks waiting for tabs' locks, by tab.
#[derive(Default)]
pub struct TabWatch {
    waiting: VecMap<TabKey, Closure<dyn FnMut(JsValue)>>,
}

impl TabWatch {
    /// Waits on the tab's Web Lock: the browser grants it to us only once the tab is gone.
    pub fn watch(&mut self, tab: TabKey, lock: &str) {
        if self.waiting.contains_key(&tab) {
            return;
        }
        let Some(locks) = lock_manager() else {
            log("Web Locks unavailable: tabs that vanish without pagehide are noticed only on their next message");
            return;
        };
        let granted = Closure::<dyn FnMut(JsValue)>::new(move |_lock| {
            with_state(|s, now| {
                s.sb.handle_tab_gone(tab, now);
                s.mail.remove(tab);
                // Dropping our own closure while it runs is deferred by wasm-bindgen.
                s.locks.waiting.remove(&tab);
            })
        });
        match locks.request(lock, granted.as_ref().unchecked_ref()) {
            Ok(_) => {
                self.waiting.insert(tab, granted);
            }
            Err(e) => log(&format!("cannot watch tab {tab}: {e:?}")),
        }
    }
}

/// Takes the hub's lifetime lock and holds it until the worker dies. Resolves once held
/// (at once where Web Locks are missing). `steal`: a leader tab's hub takes it from a
/// frozen one (which steps down on its own when it thaws, its lease run out).
pub async fn hold_hub_lock(steal: bool) {
    let Some(locks) = lock_manager() else { return };
    let mut granted_fn = None;
    let held = Promise::new(&mut |resolve, _| granted_fn = Some(resolve));
    let Some(granted) = granted_fn else { return };
    // The browser calls it exactly once, when the lock is granted (then it is freed); the
    // lock is held as long as the promise it returns is pending, which is for ever.
    let hold = Closure::once_into_js(move |_lock: JsValue| -> JsValue {
        let _ = granted.call0(&JsValue::NULL);
        Promise::new(&mut |_, _| {}).into()
    });
    let requested = if steal {
        let options = js_sys::Object::new();
        let _ = Reflect::set(&options, &"steal".into(), &JsValue::TRUE);
        locks.request_with(contract::HUB_LOCK, &options, hold.unchecked_ref())
    } else {
        locks.request(contract::HUB_LOCK, hold.unchecked_ref())
    };
    if let Err(e) = requested {
        return log(&format!("cannot take the hub lock: {}", describe(e)));
    }
    let _ = wasm_bindgen_futures::JsFuture::from(held).await;
}

/// Whether a hub (SharedWorker) is alive: it holds its lifetime lock.
pub async fn hub_alive() -> bool {
    let Some(locks) = lock_manager() else { return false };
    let Ok(query) = Reflect::get(&locks, &"query".into()).and_then(|f| f.dyn_into::<Function>()) else { return false };
    let Ok(p) = query.call0(&locks).and_then(|p| p.dyn_into::<Promise>()) else { return false };
    let Ok(snapshot) = wasm_bindgen_futures::JsFuture::from(p).await else { return false };
    let held: js_sys::Array = Reflect::get(&snapshot, &"held".into()).map(|h| h.unchecked_into()).unwrap_or_default();
    held.iter().any(|l| {
        Reflect::get(&l, &"name".into()).ok().and_then(|n| n.as_string()).as_deref() == Some(contract::HUB_LOCK)
    })
}
