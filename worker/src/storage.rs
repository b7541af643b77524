//! IndexedDB: the durable queue's store. Writes go in one transaction per drive of the core;
//! its completion tells the core which records are safe. Invariant: every callback handed to
//! IndexedDB is owned here and dropped when its request or transaction is done (none leaks).

use crate::{describe, log, scope, with_state};
use js_sys::{Promise, Reflect, Uint8Array};
use switchboard_shared::contract;
use switchboard_shared::vecmap::VecMap;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{IdbDatabase, IdbRequest, IdbTransactionMode};

/// A storage operation waiting for the database or for its transaction.
enum StoreOp {
    Put(u64, Vec<u8>),
    Delete(u64),
}

type EventCallback = Closure<dyn FnMut(web_sys::Event)>;

#[derive(Default)]
pub struct Storage {
    db: Option<IdbDatabase>,
    /// Operations not yet handed to a transaction (the database is still opening).
    unwritten: Vec<StoreOp>,
    /// Open write transactions: id -> (keys written, completion callback).
    transactions: VecMap<u32, (Vec<u64>, EventCallback)>,
    next_tx: u32,
    /// Whether the database was opened (or found unavailable): before, operations wait.
    ready: bool,
}

impl Storage {
    /// The database, once open; without one (unavailable, or a `per-tab` hub) the queue
    /// lives in memory only and nothing waits to be written.
    pub fn set_db(&mut self, db: Option<IdbDatabase>) {
        if db.is_none() {
            self.unwritten.clear();
        }
        self.db = db;
        self.ready = true;
    }

    pub fn put(&mut self, key: u64, record: Vec<u8>) {
        if !self.ready || self.db.is_some() {
            self.unwritten.push(StoreOp::Put(key, record));
        }
    }

    pub fn delete(&mut self, key: u64) {
        if !self.ready || self.db.is_some() {
            self.unwritten.push(StoreOp::Delete(key));
        }
    }

    /// Hands the pending operations to one transaction.
    pub fn write(&mut self) {
        if self.unwritten.is_empty() {
            return;
        }
        let Some(db) = self.db.as_ref() else { return };
        let ops = std::mem::take(&mut self.unwritten);
        let tx = match db.transaction_with_str_and_mode(contract::DB_STORE, IdbTransactionMode::Readwrite) {
            Ok(tx) => tx,
            Err(e) => {
                return log(&format!("storage unavailable, {} operations not written: {}", ops.len(), describe(e)))
            }
        };
        let store = match tx.object_store(contract::DB_STORE) {
            Ok(st) => st,
            Err(e) => return log(&format!("storage unavailable: {}", describe(e))),
        };
        let mut written = Vec::new();
        for op in ops {
            let r = match op {
                StoreOp::Put(key, bytes) => {
                    written.push(key);
                    store.put_with_key(&Uint8Array::from(&bytes[..]), &JsValue::from_f64(key as f64)).map(drop)
                }
                StoreOp::Delete(key) => store.delete(&JsValue::from_f64(key as f64)).map(drop),
            };
            if let Err(e) = r {
                log(&format!("storage operation failed: {}", describe(e)));
            }
        }
        let id = self.next_tx;
        self.next_tx = self.next_tx.wrapping_add(1);
        let done = Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
            let ok = e.type_() == "complete";
            with_state(|s, _| {
                // Dropping our own closure while it runs is deferred by wasm-bindgen.
                if let Some((keys, _closure)) = s.storage.transactions.remove(&id) {
                    if ok {
                        s.sb.handle_persisted(&keys);
                    } else {
                        // The pages keep what was not confirmed and resend it to the next hub.
                        log(&format!("storage transaction failed; {} records not confirmed", keys.len()));
                    }
                }
            })
        });
        tx.set_oncomplete(Some(done.as_ref().unchecked_ref()));
        tx.set_onerror(Some(done.as_ref().unchecked_ref()));
        tx.set_onabort(Some(done.as_ref().unchecked_ref()));
        self.transactions.insert(id, (written, done));
    }
}

/// Resolves with the result of an IndexedDB request. Both callbacks are owned by this future
/// and dropped when it ends, whichever fired.
pub(crate) async fn request_done(req: &IdbRequest) -> Result<JsValue, JsValue> {
    let mut settle = None;
    let promise = Promise::new(&mut |resolve, reject| settle = Some((resolve, reject)));
    let Some((resolve, reject)) = settle else { return Err(JsValue::from_str("Promise executor not called")) };
    let r = req.clone();
    let ok = Closure::<dyn FnMut(JsValue)>::new(move |_e: JsValue| {
        let _ = resolve.call1(&JsValue::NULL, &r.result().unwrap_or(JsValue::UNDEFINED));
    });
    let fail = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        let _ = reject.call1(&JsValue::NULL, &e);
    });
    req.set_onsuccess(Some(ok.as_ref().unchecked_ref()));
    req.set_onerror(Some(fail.as_ref().unchecked_ref()));
    let result = wasm_bindgen_futures::JsFuture::from(promise).await;
    req.set_onsuccess(None);
    req.set_onerror(None);
    result
}

thread_local! {
    /// The database a SharedWorker's bootstrap began to open while the wasm loaded.
    static EARLY: std::cell::RefCell<Option<Promise>> = const { std::cell::RefCell::new(None) };
}

/// The bootstrap's early open of the queue's database (`contract::DB_NAME`, version 1, the
/// store created on upgrade): a promise of the database, or of null if it failed.
#[wasm_bindgen(js_name = useDatabase)]
pub fn use_database(opening: Promise) {
    EARLY.with(|e| *e.borrow_mut() = Some(opening));
}

/// Opens the database (creating the store on first use; the bootstrap's early open if there
/// was one) and reads every stored record.
pub async fn open() -> Result<(Option<IdbDatabase>, Vec<(u64, Vec<u8>)>), JsValue> {
    let early = match EARLY.with(|e| e.borrow_mut().take()) {
        Some(opening) => wasm_bindgen_futures::JsFuture::from(opening).await.ok().and_then(|d| d.dyn_into().ok()),
        None => None,
    };
    let db = match early {
        Some(db) => db,
        None => open_named(contract::DB_NAME, &[contract::DB_STORE]).await?,
    };
    let records = read_records(&db).await?;
    Ok((Some(db), records))
}

/// Opens (or creates, with `stores`) the database `name`.
pub(crate) async fn open_named(name: &str, stores: &'static [&'static str]) -> Result<IdbDatabase, JsValue> {
    let factory = scope().indexed_db()?.ok_or_else(|| JsValue::from_str("no indexedDB"))?;
    let open = factory.open_with_u32(name, 1)?;
    let upgrade = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        let db = Reflect::get(&e, &"target".into())
            .and_then(|t| Reflect::get(&t, &"result".into()))
            .map(|d| d.unchecked_into::<IdbDatabase>());
        if let Ok(db) = db {
            for store in stores {
                if !db.object_store_names().contains(store) {
                    if let Err(e) = db.create_object_store(store) {
                        log(&format!("cannot create the store {store}: {}", describe(e)));
                    }
                }
            }
        }
    });
    open.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
    let db = request_done(&open).await.map(|d| d.unchecked_into::<IdbDatabase>());
    open.set_onupgradeneeded(None);
    db
}

/// Every record of the queue store, in key order (the order of emission).
async fn read_records(db: &IdbDatabase) -> Result<Vec<(u64, Vec<u8>)>, JsValue> {
    let tx = db.transaction_with_str(contract::DB_STORE)?;
    let store = tx.object_store(contract::DB_STORE)?;
    let keys = request_done(&store.get_all_keys()?).await?;
    let values = request_done(&store.get_all()?).await?;
    let (keys, values): (js_sys::Array, js_sys::Array) = (keys.unchecked_into(), values.unchecked_into());
    let mut records = Vec::new();
    for (k, v) in keys.iter().zip(values.iter()) {
        match (k.as_f64(), v.dyn_ref::<Uint8Array>()) {
            (Some(k), Some(bytes)) if k >= 0.0 => records.push((k as u64, bytes.to_vec())),
            // Anything else in our store is not ours to read; the core deletes unreadable records.
            (Some(k), _) if k >= 0.0 => records.push((k as u64, Vec::new())),
            _ => log("ignored a stored record with a foreign key"),
        }
    }
    Ok(records)
}
