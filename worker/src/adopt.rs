//! Storage for `per-tab` hubs (no Web Locks, so no hub can own the shared database): each
//! hub keeps its queue in a database of its own (`switchboard-queue-<random>`, stores `queue`
//! and `meta`) and stamps `alive` (wall-clock ms) into it every `ALIVE_MS`. Every `SCAN_MS`
//! it looks at the other per-tab databases: one whose hub has been quiet for `ORPHAN_MS`
//! (its tab closed, or the browser did) is claimed in one transaction — so two hubs never
//! both take it —, its records go to this hub (`Switchboard::handle_adopt`: new keys, written
//! to this hub's own database) and, on the next scan, once that write is done, the database
//! is deleted. So events a tab queued while offline outlive the tab and the browser, as in
//! the other modes. A frozen tab's hub that thaws after its database was taken may still
//! send what it held: the durable ids make a contract server drop the second copy.
//! Invariant: a database is adopted by at most one live hub at a time (the claim).

use crate::storage::{open_named, request_done};
use crate::{describe, log, scope, with_state};
use js_sys::{Array, Date, Function, Promise, Reflect};
use switchboard_shared::contract;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{IdbDatabase, IdbTransactionMode};

const META: &str = "meta";
const STORES: [&str; 2] = [contract::DB_STORE, META];
const ALIVE_MS: i32 = 2_000;
const SCAN_MS: i32 = 3_000;
const ORPHAN_MS: f64 = 6_000.0;

/// Opens this hub's own database, stamps it alive from now on, and starts looking for
/// orphans. Its queue starts empty (a new hub's database is new).
pub async fn open_own() -> Result<IdbDatabase, JsValue> {
    let name = format!("{}{:016x}", contract::PER_TAB_DB_PREFIX, crate::random_u64());
    let db = open_named(&name, &STORES).await?;
    stamp(&db);
    let own = db.clone();
    every(ALIVE_MS, move || stamp(&own));
    let scanner = name.clone();
    every(SCAN_MS, move || wasm_bindgen_futures::spawn_local(scan(scanner.clone())));
    wasm_bindgen_futures::spawn_local(scan(name));
    Ok(db)
}

/// Runs `f` every `ms` for the worker's life.
fn every(ms: i32, f: impl FnMut() + 'static) {
    let tick = Closure::<dyn FnMut()>::new(f);
    if let Err(e) = scope().set_interval_with_callback_and_timeout_and_arguments_0(tick.as_ref().unchecked_ref(), ms) {
        log(&format!("setInterval failed: {}", describe(e)));
    }
    tick.forget();
}

fn stamp(db: &IdbDatabase) {
    let put = db
        .transaction_with_str_and_mode(META, IdbTransactionMode::Readwrite)
        .and_then(|tx| tx.object_store(META))
        .and_then(|store| store.put_with_key(&Date::now().into(), &"alive".into()));
    if let Err(e) = put {
        log(&format!("cannot mark this hub's storage alive: {}", describe(e)));
    }
}

/// The names of this origin's databases (`indexedDB.databases()`).
async fn database_names() -> Result<Vec<String>, JsValue> {
    let factory = scope().indexed_db()?.ok_or_else(|| JsValue::from_str("no indexedDB"))?;
    let list: Function = Reflect::get(&factory, &"databases".into())?.dyn_into()?;
    let dbs: Array =
        wasm_bindgen_futures::JsFuture::from(list.call0(&factory)?.dyn_into::<Promise>()?).await?.dyn_into()?;
    Ok(dbs.iter().filter_map(|d| Reflect::get(&d, &"name".into()).ok()?.as_string()).collect())
}

async fn scan(own: String) {
    let names = match database_names().await {
        Ok(n) => n,
        Err(e) => return log(&format!("cannot list the per-tab queues: {}", describe(e))),
    };
    for name in names.into_iter().filter(|n| n.starts_with(contract::PER_TAB_DB_PREFIX) && *n != own) {
        match claim(&name, &own).await {
            Ok(Claim::Adopted(records)) => {
                log(&format!("took over {} queued events of a closed tab's hub", records.len()));
                with_state(move |s, now| s.sb.handle_adopt(records, now));
            }
            Ok(Claim::Done) => {
                if let Ok(Some(factory)) = scope().indexed_db() {
                    let _ = factory.delete_database(&name);
                }
            }
            Ok(Claim::Busy) => {}
            Err(e) => log(&format!("cannot look at {name}: {}", describe(e))),
        }
    }
}

enum Claim {
    /// Its hub is alive, or another hub took it.
    Busy,
    /// Claimed now: its records.
    Adopted(Vec<Vec<u8>>),
    /// Taken by this hub on an earlier scan: it can go.
    Done,
}

/// Looks at another hub's database and claims it if its hub has gone quiet, in one
/// readwrite transaction (check and claim cannot interleave with another hub's).
async fn claim(name: &str, own: &str) -> Result<Claim, JsValue> {
    let db = open_named(name, &STORES).await?;
    let outcome = claim_in(&db, own).await;
    db.close();
    outcome
}

async fn claim_in(db: &IdbDatabase, own: &str) -> Result<Claim, JsValue> {
    let tx = db.transaction_with_str_sequence_and_mode(
        &Array::of2(&META.into(), &contract::DB_STORE.into()),
        IdbTransactionMode::Readwrite,
    )?;
    let meta = tx.object_store(META)?;
    let get = |key: &str| meta.get(&key.into());
    let alive = request_done(&get("alive")?).await?.as_f64().unwrap_or(0.0);
    let by = request_done(&get("claimed_by")?).await?.as_string();
    let at = request_done(&get("claimed_at")?).await?.as_f64().unwrap_or(0.0);
    let now = Date::now();
    if by.as_deref() == Some(own) {
        return Ok(Claim::Done);
    }
    if now - alive < ORPHAN_MS || (by.is_some() && now - at < ORPHAN_MS) {
        return Ok(Claim::Busy);
    }
    meta.put_with_key(&own.into(), &"claimed_by".into())?;
    meta.put_with_key(&now.into(), &"claimed_at".into())?;
    let records = read_in(&tx).await?;
    Ok(Claim::Adopted(records))
}

/// The queue's records inside `tx`, in order.
async fn read_in(tx: &web_sys::IdbTransaction) -> Result<Vec<Vec<u8>>, JsValue> {
    let store = tx.object_store(contract::DB_STORE)?;
    let values: Array = request_done(&store.get_all()?).await?.dyn_into()?;
    Ok(values.iter().filter_map(|v| v.dyn_ref::<js_sys::Uint8Array>().map(|b| b.to_vec())).collect())
}
