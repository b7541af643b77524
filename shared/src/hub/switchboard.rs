//! The switchboard: routes each tab's port to the hub of its server (creating it on the
//! first Hello), validates Hello, and parks durable emits restored from storage until a hub
//! of their server exists. Invariant: at most one hub, so one WebSocket, per (server, auth):
//! the namespaces of a server share it.

use super::out::Output;
use super::{server_of, Hub, HubConfig, HubId, HubKey, Millis, Shared, TabKey};
use crate::backoff::Rng;
use crate::contract;
use crate::engineio;
use crate::json::{self, Quoted, Value};
use crate::port::{Endpoint, ErrorCode, FromHub, Options, StoredEmit, ToHub, PROTOCOL_VERSION, STORE_VERSION};
use crate::vecmap::{VecMap, VecSet};
use alloc::collections::{BTreeSet, VecDeque};
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// The Web Lock a page holds for as long as it lives; the hub waits on it to notice a tab
/// that vanished without a word (crash, kill, frozen-then-discarded).
pub fn tab_lock_name(tab: &str) -> String {
    format!("{}{tab}", contract::TAB_LOCK_PREFIX)
}

pub struct Switchboard {
    config: HubConfig,
    rng: Rng,
    hubs: VecMap<HubId, Hub>,
    tabs: VecMap<TabKey, HubId>,
    next_hub: HubId,
    out: VecDeque<Output>,
    shared: Rc<Shared>,
    /// Stored emits restored from storage, waiting for a hub of their endpoint.
    parked: VecMap<HubKey, Vec<(u64, StoredEmit)>>,
    online: bool,
    /// Ports without a Hello that were told `NotAttached` (once each, until their Hello), or
    /// that said Bye (a closing tab): neither is told (again) until its Hello or its end.
    told: VecSet<TabKey>,
}

const NOT_ATTACHED: &str = "this hub has no Hello from this tab (it was started again): attach again";

/// A Hello's endpoint and auth, checked: the WebSocket URL, or why not.
fn check_hello(name: &str, endpoint: &Endpoint, auth: Option<&str>) -> Result<String, (ErrorCode, String)> {
    if name.is_empty() || name.len() > contract::MAX_NAME {
        return Err((ErrorCode::BadMessage, "tab id must be 1..512 bytes".into()));
    }
    if let Some(a) = auth {
        let object = json::parse(a).map_err(|e| e.to_string()).and_then(|v| match v {
            Value::Object(_) => Ok(()),
            _ => Err("auth must be a JSON object".to_string()),
        });
        object.map_err(|e| (ErrorCode::BadPayload, format!("auth: {e}")))?;
    }
    let url = engineio::websocket_url(&endpoint.url, &endpoint.path, &endpoint.query)
        .map_err(|e| (ErrorCode::BadEndpoint, format!("{e} (got {})", Quoted(&endpoint.url))))?;
    if !endpoint.namespace.starts_with('/') || endpoint.namespace.contains(',') {
        return Err((ErrorCode::BadEndpoint, "namespace must start with '/' and contain no ','".into()));
    }
    Ok(url)
}

impl Switchboard {
    pub fn new(config: HubConfig, seed: u64) -> Self {
        Switchboard {
            config,
            rng: Rng::new(seed),
            hubs: VecMap::new(),
            tabs: VecMap::new(),
            next_hub: 1,
            out: VecDeque::new(),
            shared: Rc::default(),
            parked: VecMap::new(),
            online: true,
            told: Default::default(),
        }
    }

    /// The answer to `Output::Http { hub, id, .. }`.
    pub fn handle_http(&mut self, hub: HubId, id: u32, status: u16, body: &str, now: Millis) {
        if let Some(h) = self.hubs.get_mut(&hub) {
            h.handle_http(id, status, body, now);
        }
    }

    /// Sets the wall clock: `wall_ms` (ms since the Unix epoch) is the time at monotonic `now`.
    pub fn set_wall_clock(&mut self, wall_ms: u64, now: Millis) {
        self.shared.wall_offset.set(wall_ms as i64 - now as i64);
    }

    /// Durable emits found in storage at start-up. Each goes to the hub of its endpoint when
    /// a tab of that endpoint attaches; undecodable records are deleted.
    pub fn handle_restore(&mut self, records: Vec<(u64, Vec<u8>)>, now: Millis) {
        let mut max = self.shared.next_key.get();
        for (key, bytes) in records {
            max = max.max(key + 1);
            match crate::wire::decode_stored(&bytes) {
                Ok(rec) if rec.version == STORE_VERSION => self
                    .parked
                    .get_or_insert_with((server_of(&rec.endpoint), rec.auth.clone()), Vec::new)
                    .push((key, rec)),
                _ => {
                    self.out.push_back(Output::Log(format!("stored emit {key} is unreadable; deleted")));
                    self.out.push_back(Output::Unpersist { key });
                }
            }
        }
        self.shared.next_key.set(max);
        for h in self.hubs.values_mut() {
            if let Some(recs) = self.parked.remove(h.key()) {
                h.adopt(recs, now);
            }
        }
    }

    /// Durable emits taken over from another hub's storage (a `per-tab` hub that is gone):
    /// each gets a new key here and is written to this hub's storage, then handled as if
    /// restored (sent when a hub of its endpoint runs).
    pub fn handle_adopt(&mut self, records: Vec<Vec<u8>>, now: Millis) {
        let mut keyed = Vec::with_capacity(records.len());
        for record in records {
            let key = self.shared.next_key.get();
            self.shared.next_key.set(key + 1);
            self.out.push_back(Output::Persist { key, record: record.clone() });
            keyed.push((key, record));
        }
        self.handle_restore(keyed, now);
    }

    /// Storage confirmed the records `keys` are written.
    pub fn handle_persisted(&mut self, keys: &[u64]) {
        for h in self.hubs.values_mut() {
            h.handle_persisted(keys);
        }
    }

    /// The browser's network state (`online`/`offline` events).
    pub fn handle_network(&mut self, online: bool, now: Millis) {
        self.online = online;
        for h in self.hubs.values_mut() {
            h.set_online(online, now);
        }
    }

    /// Stored emits not yet handed to a hub (for the debug view and tests).
    pub fn parked_count(&self) -> usize {
        self.parked.values().map(Vec::len).sum()
    }

    /// Durable emits not yet delivered: parked, queued or in flight.
    pub fn undelivered(&self) -> usize {
        self.parked_count() + self.hubs.values().map(Hub::undelivered).sum::<usize>()
    }

    /// Checks the books of the durable queue and returns the ids of every durable emit the
    /// switchboard holds (parked, queued or in flight).
    pub fn audit(&self) -> Result<BTreeSet<String>, String> {
        let mut all: BTreeSet<String> = self.parked.values().flatten().map(|(_, r)| r.id.clone()).collect();
        for h in self.hubs.values() {
            all.extend(h.audit()?);
        }
        Ok(all)
    }

    fn new_hub(&mut self, key: HubKey, url: String, options: Option<&Options>) -> HubId {
        let id = self.next_hub;
        self.next_hub += 1;
        let seed = self.rng.next_u32() as u64 | ((self.rng.next_u32() as u64) << 32);
        let mut config = self.config.clone();
        if let Some(o) = options {
            config.apply(o);
        }
        self.hubs.insert(id, Hub::new(id, key, url, config, seed, self.shared.clone(), self.online));
        id
    }

    /// With no tab open (a service worker's `sync`): connect a hub for every endpoint that
    /// has stored emits, and deliver them. Endpoint options are the defaults.
    pub fn handle_flush(&mut self, now: Millis) {
        for (key, recs) in core::mem::take(&mut self.parked) {
            let Ok(url) = engineio::websocket_url(&key.0.url, &key.0.path, &key.0.query) else {
                for (k, _) in recs {
                    self.out.push_back(Output::Unpersist { key: k });
                }
                continue;
            };
            let id = self.new_hub(key, url, None);
            if let Some(h) = self.hubs.get_mut(&id) {
                h.adopt(recs, now);
                h.connect(now);
            }
        }
    }

    /// Number of live sockets (hubs), for tests and the debug view.
    pub fn hub_count(&self) -> usize {
        self.hubs.len()
    }

    pub fn hub(&self, id: HubId) -> Option<&Hub> {
        self.hubs.get(&id)
    }

    fn reject(&mut self, tab: TabKey, code: ErrorCode, message: String) {
        self.out.push_back(Output::Log(contract::redact(&format!("tab {tab}: {message}")).into_owned()));
        self.out.push_back(Output::Post { tabs: alloc::vec![tab], msg: FromHub::Error { code, message } });
    }

    /// A message from a page's port. Anything malformed is answered with `FromHub::Error`.
    pub fn handle_port_message(&mut self, tab: TabKey, bytes: &[u8], now: Millis) {
        let msg = match crate::wire::decode_to_hub(bytes) {
            Ok(m) => m,
            Err(e) => return self.reject(tab, ErrorCode::BadMessage, e.to_string()),
        };
        match (self.tabs.get(&tab).copied(), msg) {
            (None, ToHub::Hello { version, tab: name, endpoint, auth, options }) => {
                if version != PROTOCOL_VERSION {
                    let message =
                        format!("page speaks protocol v{version}, this hub v{PROTOCOL_VERSION}: reload the page");
                    return self.reject(tab, ErrorCode::VersionMismatch, message);
                }
                match check_hello(&name, &endpoint, auth.as_deref()) {
                    Ok(url) => {
                        let nsp = endpoint.namespace.clone();
                        self.hello(tab, name, &nsp, (server_of(&endpoint), auth), url, &options, now)
                    }
                    Err((code, message)) => self.reject(tab, code, message),
                }
            }
            // A closing tab's goodbye after its lock was released (it was detached then), or
            // on a port this hub never welcomed: nothing to do, nothing to tell.
            (None, ToHub::Bye) => {}
            // A hub started again under the tab: the tab is told once to attach again; what
            // it sent meanwhile is dropped (its durable emits are resent with the attach, its
            // waiting calls fail on its side).
            (None, _) => {
                if self.told.insert(tab) {
                    self.reject(tab, ErrorCode::NotAttached, NOT_ATTACHED.into());
                }
            }
            (Some(_), ToHub::Hello { .. }) => {
                self.reject(tab, ErrorCode::OutOfOrder, "Hello sent twice on one port".into())
            }
            (Some(id), ToHub::Bye) => {
                // Whatever the closing tab still sends after its goodbye is dropped quietly.
                self.told.insert(tab);
                self.detach(tab, id, now)
            }
            (Some(id), msg) => {
                if let Some(h) = self.hubs.get_mut(&id) {
                    h.handle_tab(tab, msg, now);
                }
            }
        }
    }

    /// A valid Hello: the tab joins the hub of its server, in namespace `nsp` (a new hub for
    /// a new server, which adopts the stored emits parked for it).
    #[allow(clippy::too_many_arguments)]
    fn hello(
        &mut self,
        tab: TabKey,
        name: String,
        nsp: &str,
        key: HubKey,
        url: String,
        options: &Options,
        now: Millis,
    ) {
        let id = match self.hubs.iter_mut().find(|(_, h)| *h.key() == key) {
            Some((id, h)) => {
                h.reconfigure(&self.config, options, now);
                *id
            }
            None => {
                let parked = self.parked.remove(&key);
                let id = self.new_hub(key, url, Some(options));
                if let (Some(h), Some(recs)) = (self.hubs.get_mut(&id), parked) {
                    h.adopt(recs, now);
                }
                id
            }
        };
        self.tabs.insert(tab, id);
        self.told.remove(&tab);
        self.out.push_back(Output::Watch { tab, lock: tab_lock_name(&name) });
        if let Some(h) = self.hubs.get_mut(&id) {
            h.attach(tab, name, nsp, now);
        }
    }

    /// A port the hub was handed (a SharedWorker `connect`, a tab relayed by a leader tab):
    /// told `NotAttached` at once, so a tab that was attached to an earlier hub on this port
    /// attaches again even if it sends nothing; a new tab, not yet welcomed, ignores it.
    pub fn handle_port_opened(&mut self, tab: TabKey) {
        if self.told.insert(tab) {
            let msg = FromHub::Error { code: ErrorCode::NotAttached, message: NOT_ATTACHED.into() };
            self.out.push_back(Output::Post { tabs: alloc::vec![tab], msg });
        }
    }

    /// The port sent something that is not a byte array at all.
    pub fn handle_port_garbage(&mut self, tab: TabKey, what: &str) {
        self.reject(tab, ErrorCode::BadMessage, format!("expected a Uint8Array, got {what}"));
    }

    /// The tab is gone without saying Bye (its Web Lock was released, or its port failed).
    pub fn handle_tab_gone(&mut self, tab: TabKey, now: Millis) {
        self.told.remove(&tab);
        if let Some(id) = self.tabs.get(&tab).copied() {
            self.out.push_back(Output::Log(format!("tab {tab} vanished; detaching it")));
            self.detach(tab, id, now);
        }
    }

    fn detach(&mut self, tab: TabKey, id: HubId, now: Millis) {
        self.tabs.remove(&tab);
        if let Some(h) = self.hubs.get_mut(&id) {
            h.detach(tab, now);
        }
    }

    pub fn handle_socket_open(&mut self, hub: HubId, conn: u32, now: Millis) {
        if let Some(h) = self.hubs.get_mut(&hub) {
            h.handle_socket_open(conn, now);
        }
    }

    /// The socket `conn` of `hub`, which the shell did not open itself, already carried the
    /// CONNECT `frame` (an Engine.IO message frame, `40…`): the hub sends no second one if
    /// that is the CONNECT it would send, and starts the connection over if it is not.
    pub fn handle_early_connect(&mut self, hub: HubId, conn: u32, frame: &str) {
        if let Some(h) = self.hubs.get_mut(&hub) {
            h.handle_early_connect(conn, frame);
        }
    }

    pub fn handle_socket_text(&mut self, hub: HubId, conn: u32, text: &str, now: Millis) {
        if let Some(h) = self.hubs.get_mut(&hub) {
            h.handle_socket_text(conn, text, now);
        }
    }

    pub fn handle_socket_binary(&mut self, hub: HubId, conn: u32, bytes: &[u8], now: Millis) {
        if let Some(h) = self.hubs.get_mut(&hub) {
            h.handle_socket_binary(conn, bytes, now);
        }
    }

    pub fn handle_socket_closed(&mut self, hub: HubId, conn: u32, now: Millis) {
        if let Some(h) = self.hubs.get_mut(&hub) {
            h.handle_socket_closed(conn, now);
        }
    }

    /// A socket that closed before it opened, with what a plain HTTP request to the same
    /// server answered (see [`super::Probe`]); `origin`: the page's origin.
    pub fn handle_socket_failed(&mut self, hub: HubId, conn: u32, probe: &super::Probe, origin: &str, now: Millis) {
        if let Some(h) = self.hubs.get_mut(&hub) {
            h.handle_socket_failed(conn, probe, origin, now);
        }
    }

    pub fn handle_timeout(&mut self, now: Millis) {
        for h in self.hubs.values_mut() {
            h.handle_timeout(now);
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        if let Some(o) = self.out.pop_front() {
            return Some(o);
        }
        let mut retired = None;
        for (id, h) in self.hubs.iter_mut() {
            if let Some(o) = h.poll_output() {
                return Some(o);
            }
            if h.is_retired() {
                retired = Some(*id);
            }
        }
        if let Some(id) = retired {
            self.hubs.remove(&id);
        }
        None
    }

    pub fn poll_timeout(&self) -> Option<Millis> {
        self.hubs.values().filter_map(Hub::poll_timeout).min()
    }
}
