//! Leader-tab mode's lease: the hub acts only while it has been awake recently. A dedicated
//! worker freezes with its tab; when the tab is frozen the other tabs hear no hub, and after
//! `LEADER_SILENCE_MS` one takes over with a new hub. The frozen hub, when it thaws, must not
//! act on anything it had queued: its first wake finds the time since its last one longer
//! than the lease (`LEADER_LEASE_MS`, shorter than the silence) and it steps down — closes
//! its sockets without sending on them and ends the worker. A busy hub is awake all the time,
//! so only a real gap (a freeze) ends it; an idle one wakes with every heartbeat.
//! Invariant: once stepped down, nothing runs again (`fenced` stays true).

use crate::{log, STATE};
use js_sys::{Function, Reflect};
use std::cell::Cell;
use switchboard_shared::hub::Millis;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[derive(Clone, Copy)]
enum Lease {
    /// Not a leader-tab hub: nothing to check.
    Off,
    /// May act until `until`; each wake extends it by `ms`.
    Held { ms: u64, until: Millis },
    /// Stepped down.
    Fenced,
}

thread_local! {
    static LEASE: Cell<Lease> = const { Cell::new(Lease::Off) };
}

/// Called by the leader-tab bootstrap at start and with each heartbeat: this hub holds a
/// lease of `ms` from now (unless it already stepped down).
#[wasm_bindgen(js_name = renewLease)]
pub fn renew_lease(ms: u32) {
    let now = crate::now();
    LEASE.with(|l| {
        if !matches!(l.get(), Lease::Fenced) {
            l.set(Lease::Held { ms: ms as u64, until: now + ms as u64 });
        }
    });
}

/// The hub was awake at `now`: the lease runs from here.
pub fn touch(now: Millis) {
    LEASE.with(|l| {
        if let Lease::Held { ms, .. } = l.get() {
            l.set(Lease::Held { ms, until: now + ms });
        }
    });
}

/// Whether the hub must not act: it stepped down, or it wakes past its lease (then it steps
/// down now).
pub fn fenced(now: Millis) -> bool {
    match LEASE.with(Cell::get) {
        Lease::Off => false,
        Lease::Held { until, .. } if now <= until => false,
        Lease::Fenced => true,
        Lease::Held { .. } => {
            LEASE.with(|l| l.set(Lease::Fenced));
            log("lease run out (this tab was frozen; another may lead now): stepping down without sending");
            STATE.with(|cell| {
                if let Ok(mut guard) = cell.try_borrow_mut() {
                    if let Some(s) = guard.as_mut() {
                        s.sockets.clear();
                    }
                }
            });
            // `close()` of the dedicated worker's scope (not bound for WorkerGlobalScope).
            let global = js_sys::global();
            if let Ok(close) = Reflect::get(&global, &"close".into()).and_then(|f| f.dyn_into::<Function>()) {
                let _ = close.call0(&global);
            }
            true
        }
    }
}
