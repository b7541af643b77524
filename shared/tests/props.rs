//! Property tests: codecs round-trip, and no input bytes make a decoder or the hub panic.

use proptest::prelude::*;
use switchboard_shared::hub::{HubConfig, Output, Switchboard};
use switchboard_shared::port::{
    self, AckRequest, AuthState, AuthTelemetry, Bytes, Endpoint, ErrorCode, FromHub, Options, Status, StoredEmit, ToHub,
};
use switchboard_shared::{engineio, json, socketio, wire};

fn json_leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("null".to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i32>().prop_map(|n| n.to_string()),
        ".*".prop_map(|s: String| {
            let mut out = String::new();
            json::write_string(&mut out, &s);
            out
        }),
    ]
}

fn json_value() -> impl Strategy<Value = String> {
    json_leaf().prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((".{0,8}", inner), 0..4).prop_map(|v| {
                let fields: Vec<String> = v
                    .into_iter()
                    .map(|(k, val)| {
                        let mut key = String::new();
                        json::write_string(&mut key, &k);
                        format!("{key}:{val}")
                    })
                    .collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

fn args_array() -> impl Strategy<Value = String> {
    prop::collection::vec(json_value(), 0..4).prop_map(|v| format!("[{}]", v.join(",")))
}

fn bytes() -> impl Strategy<Value = Vec<Bytes>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..16).prop_map(Bytes), 0..3)
}

fn options() -> impl Strategy<Value = Options> {
    (any::<bool>(), any::<[u32; 6]>(), any::<f32>(), any::<u64>(), any::<bool>()).prop_map(|(r, n, f, age, bearer)| {
        Options {
            reconnection: r,
            reconnection_delay_ms: n[0],
            reconnection_delay_max_ms: n[1],
            randomization_factor: f,
            timeout_ms: n[2],
            max_queue: n[3],
            max_queue_bytes: n[4],
            max_queue_age_ms: age,
            bearer,
            reconnection_attempts: n[5],
        }
    })
}

fn to_hub() -> impl Strategy<Value = ToHub> {
    prop_oneof![
        (any::<u16>(), ".*", ".*", ".*", ".*", ".*", proptest::option::of(".*"), options()).prop_map(
            |(version, tab, url, path, namespace, query, auth, options)| ToHub::Hello {
                version,
                tab,
                endpoint: Endpoint { url, path, namespace, query },
                auth,
                options,
            }
        ),
        ".*".prop_map(|event| ToHub::Subscribe { event }),
        ".*".prop_map(|event| ToHub::Unsubscribe { event }),
        (any::<u32>(), ".*", args_array(), bytes(), proptest::option::of((any::<u32>(), any::<u32>())), any::<bool>())
            .prop_map(|(seq, event, args, bins, ack, volatile)| ToHub::Emit {
                seq,
                event,
                args,
                bins,
                ack: ack.map(|(id, timeout_ms)| AckRequest { id, timeout_ms }),
                volatile,
            }),
        (any::<u32>(), args_array(), bytes()).prop_map(|(token, args, bins)| ToHub::Reply { token, args, bins }),
        (any::<u32>(), ".*").prop_map(|(req, room)| ToHub::Join { req, room }),
        (any::<u32>(), ".*").prop_map(|(req, room)| ToHub::Leave { req, room }),
        Just(ToHub::Bye),
        (any::<u32>(), ".*", ".*").prop_map(|(req, username, password)| ToHub::Login { req, username, password }),
        any::<u32>().prop_map(|req| ToHub::Logout { req }),
        any::<u32>().prop_map(|req| ToHub::Refresh { req }),
        any::<u32>().prop_map(|req| ToHub::Token { req }),
        (any::<u8>(), any::<u8>(), any::<u64>()).prop_map(|(level, scope, term)| ToHub::Priority {
            level,
            scope,
            term
        }),
        (any::<u32>(), ".*", ".*", args_array(), bytes()).prop_map(|(seq, room, event, args, bins)| ToHub::EmitTo {
            seq,
            room,
            event,
            args,
            bins
        }),
    ]
}

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![
        Just(Status::Connecting),
        ".*".prop_map(|sid| Status::Connected { sid }),
        Just(Status::Offline),
        (any::<u32>(), any::<u32>(), ".*").prop_map(|(attempt, delay_ms, reason)| Status::Reconnecting {
            attempt,
            delay_ms,
            reason
        }),
        ".*".prop_map(|reason| Status::Disconnected { reason }),
        ".*".prop_map(|reason| Status::Failed { reason }),
    ]
}

fn counts() -> impl Strategy<Value = Vec<(String, u32)>> {
    prop::collection::vec((".{0,8}", any::<u32>()), 0..3)
}

fn auth() -> impl Strategy<Value = AuthState> {
    let opt = || proptest::option::of(".{0,12}");
    (opt(), proptest::option::of(any::<u64>()), opt(), opt(), any::<[u32; 3]>(), any::<u64>(), counts(), counts())
        .prop_map(|(user, expires_at, error, signed_out, n, total_ms, failures, sign_outs)| AuthState {
            user,
            expires_at,
            error,
            signed_out,
            telemetry: AuthTelemetry { refreshes: n[0], last_ms: n[1], max_ms: n[2], total_ms, failures, sign_outs },
        })
}

fn from_hub() -> impl Strategy<Value = FromHub> {
    prop_oneof![
        (any::<u16>(), status()).prop_map(|(version, status)| FromHub::Welcome { version, status }),
        status().prop_map(FromHub::Status),
        (".*", proptest::option::of(".*"), args_array(), bytes(), proptest::option::of(any::<u32>()))
            .prop_map(|(event, room, args, bins, reply)| FromHub::Event { event, room, args, bins, reply }),
        (any::<u32>(), args_array(), bytes()).prop_map(|(id, args, bins)| FromHub::Ack { id, args, bins }),
        (any::<u32>(), ".*").prop_map(|(id, reason)| FromHub::AckFailed { id, reason }),
        (any::<u32>(), proptest::option::of(".*")).prop_map(|(req, error)| FromHub::Done { req, error }),
        prop::collection::vec(".*", 0..4).prop_map(|tabs| FromHub::Tabs { tabs }),
        any::<u32>().prop_map(|seq| FromHub::Stored { seq }),
        (any::<u32>(), ".*").prop_map(|(seq, reason)| FromHub::Refused { seq, reason }),
        (any::<i64>(), any::<u32>()).prop_map(|(offset_ms, rtt_ms)| FromHub::Clock { offset_ms, rtt_ms }),
        any::<bool>().prop_map(|recovered| FromHub::Recovered { recovered }),
        auth().prop_map(FromHub::Auth),
        (any::<u32>(), proptest::option::of(".*"), proptest::option::of(".*"))
            .prop_map(|(req, token, error)| FromHub::Token { req, token, error }),
        (0usize..ErrorCode::ALL.len(), ".*")
            .prop_map(|(c, message)| FromHub::Error { code: ErrorCode::ALL[c], message }),
    ]
}

proptest! {
    #[test]
    fn port_messages_round_trip(m in to_hub(), f in from_hub()) {
        prop_assert_eq!(port::decode::<ToHub>(&port::encode(&m)), Ok(m));
        prop_assert_eq!(port::decode::<FromHub>(&port::encode(&f)), Ok(f));
    }

    // The page's hand-written codec (wire) speaks exactly postcard's bytes.
    #[test]
    fn wire_encodes_what_postcard_encodes(m in to_hub()) {
        prop_assert_eq!(wire::encode_to_hub(&m), port::encode(&m));
    }

    #[test]
    fn wire_decodes_what_postcard_encodes(f in from_hub()) {
        let bytes = port::encode(&f);
        prop_assert_eq!(wire::decode_from_hub(&bytes), Ok(f.clone()));
        // A message cut short is an error, never a different message or a panic.
        for cut in 0..bytes.len() {
            prop_assert_eq!(wire::decode_from_hub(&bytes[..cut]).ok(), port::decode::<FromHub>(&bytes[..cut]).ok());
        }
    }

    #[test]
    fn wire_accepts_exactly_what_postcard_accepts(bytes in prop::collection::vec(any::<u8>(), 0..64), kind in 0u8..14) {
        // Lead with a valid variant index most of the time so the fields get exercised.
        let mut b = bytes;
        if !b.is_empty() && kind < 14 {
            b[0] = kind;
        }
        prop_assert_eq!(wire::decode_from_hub(&b).ok(), port::decode::<FromHub>(&b).ok());
    }

    // The generated codec (wire), as the hub uses it, speaks exactly postcard's bytes too.
    #[test]
    fn the_hubs_codec_encodes_and_decodes_what_postcard_does(m in to_hub(), f in from_hub()) {
        prop_assert_eq!(wire::encode_from_hub(&f), port::encode(&f));
        let bytes = port::encode(&m);
        prop_assert_eq!(wire::decode_to_hub(&bytes), Ok(m.clone()));
        for cut in 0..bytes.len() {
            prop_assert_eq!(wire::decode_to_hub(&bytes[..cut]).ok(), port::decode::<ToHub>(&bytes[..cut]).ok());
        }
    }

    #[test]
    fn the_hubs_decoder_accepts_exactly_what_postcard_accepts(bytes in prop::collection::vec(any::<u8>(), 0..64), kind in 0u8..15) {
        let mut b = bytes;
        if !b.is_empty() {
            b[0] = kind;
        }
        prop_assert_eq!(wire::decode_to_hub(&b).ok(), port::decode::<ToHub>(&b).ok());
        prop_assert_eq!(wire::decode_stored(&b).ok(), port::decode::<StoredEmit>(&b).ok());
    }

    #[test]
    fn stored_emits_are_postcard(id in ".{0,12}", event in ".{0,12}", args in args_array(), auth in proptest::option::of(".{0,8}"), created in any::<u64>(), n in 0usize..3) {
        let rec = StoredEmit {
            version: 1,
            endpoint: Endpoint { url: "http://a:1".into(), path: "/socket.io".into(), namespace: "/".into(), query: String::new() },
            auth,
            id,
            event,
            args,
            bins: (0..n).map(|i| Bytes(vec![i as u8; i])).collect(),
            created_ms: created,
        };
        let bytes = port::encode(&rec);
        prop_assert_eq!(&wire::encode_stored(&rec), &bytes);
        prop_assert_eq!(wire::decode_stored(&bytes), Ok(rec));
    }

    #[test]
    fn generated_json_validates_and_parses(v in json_value()) {
        prop_assert_eq!(json::validate(&v), Ok(()));
        prop_assert!(json::parse(&v).is_ok());
    }

    #[test]
    fn socketio_events_round_trip(nsp in "(/[a-z]{1,8})?", id in proptest::option::of(0u64..1_000_000_000_000), name in ".*", args in args_array(), att in 0usize..3) {
        let nsp = if nsp.is_empty() { "/".to_string() } else { nsp };
        let text = socketio::encode_event(&nsp, att, id, &[&name], &args);
        let p = socketio::decode(&text).unwrap();
        prop_assert_eq!(p.nsp, nsp.as_str());
        prop_assert_eq!(p.id, id);
        prop_assert_eq!(p.attachments, att);
        let (names, rest) = socketio::split_leading_strings(p.data, 1).unwrap();
        prop_assert_eq!(&names[0], &name);
        prop_assert_eq!(json::parse(&rest).unwrap(), json::parse(&args).unwrap());
    }

    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64), text in ".{0,64}") {
        let _ = port::decode::<ToHub>(&bytes);
        let _ = port::decode::<FromHub>(&bytes);
        let _ = engineio::decode(&text);
        let _ = socketio::decode(&text);
        let _ = json::parse(&text);
        let _ = json::validate(&text);
    }

    #[test]
    fn the_hub_survives_any_input(inputs in prop::collection::vec((0u8..4, prop::collection::vec(any::<u8>(), 0..48), "[0-6]{0,2}.{0,24}"), 0..40)) {
        let mut sb = Switchboard::new(HubConfig::default(), 9);
        let hello = ToHub::Hello { version: port::PROTOCOL_VERSION, tab: "t".into(), endpoint: Endpoint { url: "http://h:1".into(), path: "/socket.io".into(), namespace: "/".into(), query: String::new() }, auth: None, options: Options::default() };
        sb.handle_port_message(1, &port::encode(&hello), 0);
        let mut now = 0;
        sb.handle_socket_text(1, 1, r#"0{"sid":"x","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#, now);
        sb.handle_socket_text(1, 1, "40", now);
        for (kind, bytes, text) in inputs {
            now += 100;
            match kind {
                0 => sb.handle_port_message(1, &bytes, now),
                1 => sb.handle_socket_text(1, 1, &format!("4{text}"), now),
                2 => sb.handle_socket_binary(1, 1, &bytes, now),
                _ => sb.handle_timeout(now),
            }
            while sb.poll_output().is_some() {}
        }
    }
}

// ---------------------------------------------------------------------------------------
// Invariants of the durable queue under random sequences of events, not only "no panic".
// ---------------------------------------------------------------------------------------

mod durable_model {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    const HANDSHAKE: &str =
        r#"0{"sid":"e","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;

    /// What can happen to a hub serving one endpoint for a while.
    #[derive(Debug, Clone)]
    pub enum Step {
        /// A tab (by index) emits a durable event.
        Emit(usize),
        /// The server completes the handshake (and says `sb:hello`) on the open socket.
        Accept,
        /// The server sends the receipt of the n-th envelope it has not yet acknowledged.
        Receipt(usize),
        /// The transport drops.
        Drop,
        /// A tab closes (its page copy is gone with it).
        Close(usize),
        /// A new tab opens, on namespace "/" (false) or "/b" (true): both share the socket.
        Open(bool),
        /// Storage confirms what was written.
        Persisted,
        /// Time passes.
        Wait(u64),
        /// The worker dies and a new one reads storage; open tabs attach again and resend.
        Restart,
    }

    pub fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0usize..3).prop_map(Step::Emit),
            2 => Just(Step::Accept),
            3 => (0usize..3).prop_map(Step::Receipt),
            1 => Just(Step::Drop),
            1 => (0usize..3).prop_map(Step::Close),
            1 => any::<bool>().prop_map(Step::Open),
            2 => Just(Step::Persisted),
            2 => (0u64..3_000).prop_map(Step::Wait),
            1 => Just(Step::Restart),
        ]
    }

    struct Page {
        key: u32,
        name: String,
        nsp: &'static str,
        next_seq: u32,
        /// seq -> (id, args): kept until the hub says Stored or Refused.
        held: BTreeMap<u32, (String, String)>,
    }

    pub struct World {
        sb: Switchboard,
        now: u64,
        pages: Vec<Page>,
        next_key: u32,
        next_name: u32,
        socket: Option<u32>,
        store: BTreeMap<u64, Vec<u8>>,
        unconfirmed: Vec<u64>,
        /// Envelopes the server holds, in arrival order: (namespace prefix, sio ack id, emit id).
        envelopes: Vec<(String, u64, String)>,
        /// Every durable emit a page made, and those the server has acknowledged.
        emitted: BTreeSet<String>,
        received: BTreeSet<String>,
        refused: BTreeSet<String>,
    }

    fn endpoint(nsp: &str) -> Endpoint {
        Endpoint { url: "http://h:1".into(), path: "/socket.io".into(), namespace: nsp.into(), query: String::new() }
    }

    /// How a namespace prefixes its packets ("" for "/").
    fn prefix(nsp: &str) -> String {
        if nsp == "/" {
            String::new()
        } else {
            format!("{nsp},")
        }
    }

    impl World {
        pub fn new() -> World {
            let mut w = World {
                sb: Switchboard::new(HubConfig::default(), 5),
                now: 0,
                pages: Vec::new(),
                next_key: 1,
                next_name: 1,
                socket: None,
                store: BTreeMap::new(),
                unconfirmed: Vec::new(),
                envelopes: Vec::new(),
                emitted: BTreeSet::new(),
                received: BTreeSet::new(),
                refused: BTreeSet::new(),
            };
            w.open_tab("/");
            w
        }

        fn hello(&mut self, key: u32, name: &str, nsp: &str) {
            let hello = ToHub::Hello {
                version: port::PROTOCOL_VERSION,
                tab: name.into(),
                endpoint: endpoint(nsp),
                auth: None,
                options: Options::default(),
            };
            self.sb.handle_port_message(key, &port::encode(&hello), self.now);
        }

        fn open_tab(&mut self, nsp: &'static str) {
            let (key, name) = (self.next_key, format!("t{}", self.next_name));
            self.next_key += 1;
            self.next_name += 1;
            self.hello(key, &name, nsp);
            self.pages.push(Page { key, name, nsp, next_seq: 0, held: BTreeMap::new() });
        }

        fn emit(&mut self, key: u32, seq: u32, args: &str) {
            let msg =
                ToHub::Emit { seq, event: "n".into(), args: args.into(), bins: vec![], ack: None, volatile: false };
            self.sb.handle_port_message(key, &port::encode(&msg), self.now);
        }

        /// Carries out the hub's outputs: the server reads envelopes, storage applies writes,
        /// pages read Stored/Refused.
        fn pump(&mut self) {
            while let Some(o) = self.sb.poll_output() {
                match o {
                    Output::Open { conn, .. } => self.socket = Some(conn),
                    Output::Close { .. } => {
                        self.socket = None;
                        self.envelopes.clear();
                    }
                    Output::SendText { text, .. } => {
                        if let Some(rest) = text.strip_prefix("42") {
                            let nsp = match rest.starts_with('/') {
                                true => rest[..=rest.find(',').unwrap()].to_string(),
                                false => String::new(),
                            };
                            let rest = &rest[nsp.len()..];
                            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                            if rest[digits.len()..].starts_with(r#"["sb:emit","#) {
                                let id = rest.split('"').nth(3).unwrap_or_default().to_string();
                                self.envelopes.push((nsp, digits.parse().unwrap(), id));
                            }
                        }
                    }
                    Output::Persist { key, record } => {
                        self.store.insert(key, record);
                        self.unconfirmed.push(key);
                    }
                    Output::Unpersist { key } => {
                        self.store.remove(&key);
                    }
                    Output::Post { tabs, msg } => {
                        for t in tabs {
                            let Some(p) = self.pages.iter_mut().find(|p| p.key == t) else { continue };
                            match &msg {
                                FromHub::Stored { seq } => {
                                    p.held.remove(seq);
                                }
                                FromHub::Refused { seq, .. } => {
                                    if let Some((id, _)) = p.held.remove(seq) {
                                        self.refused.insert(id);
                                    }
                                }
                                _ => {}
                            }
                        }
                    }
                    Output::Http { hub, id, .. } => self.sb.handle_http(hub, id, 404, "", self.now),
                    _ => {}
                }
            }
        }

        pub fn apply(&mut self, step: Step) {
            match step {
                Step::Emit(i) => {
                    if let Some(p) = self.pages.get_mut(i) {
                        let seq = p.next_seq;
                        p.next_seq += 1;
                        let id = format!("{}-{seq}", p.name);
                        let args = format!("[{seq}]");
                        p.held.insert(seq, (id.clone(), args.clone()));
                        self.emitted.insert(id);
                        let key = p.key;
                        self.emit(key, seq, &args);
                    }
                }
                Step::Accept => {
                    if let Some(conn) = self.socket {
                        self.sb.handle_socket_text(1, conn, HANDSHAKE, self.now);
                        // Every namespace that asked is accepted (and one that did not ignores it).
                        for p in ["/", "/b"].map(prefix) {
                            for f in [format!(r#"40{p}{{"sid":"s"}}"#), format!(r#"42{p}["sb:hello",{{"v":1}}]"#)] {
                                self.sb.handle_socket_text(1, conn, &f, self.now);
                            }
                        }
                    }
                }
                Step::Receipt(n) => {
                    if let (Some(conn), false) = (self.socket, self.envelopes.is_empty()) {
                        let (nsp, ack, id) = self.envelopes.remove(n % self.envelopes.len());
                        self.received.insert(id);
                        self.sb.handle_socket_text(1, conn, &format!(r#"43{nsp}{ack}[{{"ok":true}}]"#), self.now);
                    }
                }
                Step::Drop => {
                    if let Some(conn) = self.socket.take() {
                        self.envelopes.clear();
                        self.sb.handle_socket_closed(1, conn, self.now);
                    }
                }
                Step::Close(i) => {
                    if i < self.pages.len() {
                        let p = self.pages.remove(i);
                        self.sb.handle_port_message(p.key, &port::encode(&ToHub::Bye), self.now);
                    }
                }
                Step::Open(b) => self.open_tab(if b { "/b" } else { "/" }),
                Step::Persisted => {
                    let keys = core::mem::take(&mut self.unconfirmed);
                    self.sb.handle_persisted(&keys);
                }
                Step::Wait(ms) => {
                    let until = self.now + ms;
                    while let Some(d) = self.sb.poll_timeout().filter(|d| *d <= until) {
                        self.now = self.now.max(d);
                        self.sb.handle_timeout(self.now);
                        self.pump();
                        let next = self.sb.poll_timeout();
                        assert!(next.is_none_or(|t| t > self.now), "poll_timeout {next:?} not after now {}", self.now);
                    }
                    self.now = until;
                }
                Step::Restart => {
                    // The socket dies with the worker; the server forgets unacknowledged envelopes.
                    self.socket = None;
                    self.envelopes.clear();
                    self.unconfirmed.clear();
                    self.sb = Switchboard::new(HubConfig::default(), 6);
                    let records = self.store.clone().into_iter().collect();
                    self.sb.handle_restore(records, self.now);
                    let pages = core::mem::take(&mut self.pages);
                    for p in &pages {
                        self.hello(p.key, &p.name, p.nsp);
                        for (seq, (_, args)) in &p.held {
                            self.emit(p.key, *seq, args);
                        }
                    }
                    self.pages = pages;
                }
            }
            self.pump();
        }

        /// Emits the server acknowledged (for the model's own test).
        pub fn received(&self) -> Vec<String> {
            self.received.iter().cloned().collect()
        }

        /// Every durable emit is held by someone until the server's receipt: its page, or the
        /// hub (queue or in flight, exactly one of them), and the hub's books balance.
        pub fn check(&self) -> Result<(), String> {
            let hub = self.sb.audit()?;
            let pages: BTreeSet<&String> = self.pages.iter().flat_map(|p| p.held.values().map(|(id, _)| id)).collect();
            for id in &self.emitted {
                if self.received.contains(id) || self.refused.contains(id) {
                    continue;
                }
                if !pages.contains(id) && !hub.contains(id) {
                    return Err(format!("emit {id} is held by nobody"));
                }
            }
            Ok(())
        }
    }
}

/// The model itself reaches both namespaces: an emit on "/b" travels its envelope and gets
/// its receipt on the shared socket.
#[test]
fn the_durable_model_drives_both_namespaces() {
    use durable_model::{Step, World};
    let mut w = World::new();
    for step in [Step::Open(true), Step::Emit(0), Step::Emit(1), Step::Accept, Step::Receipt(0), Step::Receipt(0)] {
        w.apply(step);
        w.check().expect("books balance");
    }
    assert_eq!(w.received(), ["t1-0", "t2-0"]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn durable_emits_are_always_held_by_someone_and_the_hubs_books_balance(steps in prop::collection::vec(durable_model::step(), 0..60)) {
        let mut w = durable_model::World::new();
        for s in steps {
            w.apply(s);
            if let Err(e) = w.check() {
                prop_assert!(false, "{}", e);
            }
        }
    }
}

mod election_model {
    use proptest::prelude::*;
    use switchboard_shared::hub::election::{Change, Election, Priority, ACTIVE, HYSTERESIS_MS};

    #[derive(Debug, Clone)]
    pub enum Step {
        Attach(u32),
        Detach(u32),
        Report(u32, u8),
        Wait(u64),
    }

    pub fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            2 => (0u32..5).prop_map(Step::Attach),
            1 => (0u32..5).prop_map(Step::Detach),
            4 => (0u32..5, 0u8..=ACTIVE).prop_map(|(t, l)| Step::Report(t, l)),
            3 => (0u64..1_200).prop_map(Step::Wait),
        ]
    }

    /// What the model remembers between steps.
    #[derive(Default)]
    struct Seen {
        term: u64,
        /// Since when some tab has been strictly better than the leader.
        better_since: Option<u64>,
    }

    impl Seen {
        /// One leader per term, terms rise by one per change, no leader exactly when no tab
        /// is left, and a tab strictly better than the leader leads within the hysteresis.
        fn check(
            &mut self,
            c: Option<Change<u32>>,
            e: &Election<u32>,
            tabs: &[(u32, u8)],
            now: u64,
        ) -> Result<(), String> {
            if let Some(c) = c {
                if c.term != self.term + 1 {
                    return Err(format!("term {} after {}", c.term, self.term));
                }
                self.term = c.term;
            }
            let (leader, t) = e.leader();
            if t != self.term {
                return Err(format!("leader() term {t} != last change {}", self.term));
            }
            if leader.is_none() != tabs.is_empty() && self.term > 0 {
                return Err(format!("leader {leader:?} with tabs {tabs:?}"));
            }
            let best = tabs.iter().map(|(_, l)| *l).max();
            let lead_level = leader.and_then(|l| tabs.iter().find(|(t, _)| t == l)).map(|(_, l)| *l);
            match (best, lead_level) {
                (Some(b), Some(l)) if b > l => {
                    let since = *self.better_since.get_or_insert(now);
                    if now > since + HYSTERESIS_MS {
                        return Err(format!("a better tab waited {} ms (at {now})", now - since));
                    }
                }
                _ => self.better_since = None,
            }
            Ok(())
        }
    }

    pub fn run(steps: Vec<Step>) -> Result<(), String> {
        let mut e = Election::new(HYSTERESIS_MS);
        let (mut now, mut tabs, mut seen): (u64, Vec<(u32, u8)>, Seen) = (0, Vec::new(), Seen::default());
        for s in steps {
            let change = match s {
                Step::Attach(t) if !tabs.iter().any(|(x, _)| *x == t) => {
                    tabs.push((t, 1));
                    e.attach(t, now)
                }
                Step::Attach(_) => None,
                Step::Detach(t) => {
                    tabs.retain(|(x, _)| *x != t);
                    e.detach(&t, now)
                }
                Step::Report(t, level) => match tabs.iter_mut().find(|(x, _)| *x == t) {
                    Some(entry) => {
                        if entry.1 != level {
                            // A level change restarts the wait (the rule is "held for" the time).
                            seen.better_since = None;
                        }
                        entry.1 = level;
                        e.report(t, Priority { level, activity: now }, now)
                    }
                    None => None,
                },
                Step::Wait(ms) => {
                    let until = now + ms;
                    while let Some(d) = e.poll_timeout().filter(|d| *d <= until) {
                        now = now.max(d);
                        let c = e.handle_timeout(now);
                        seen.check(c, &e, &tabs, now)?;
                    }
                    now = until;
                    None
                }
            };
            seen.check(change, &e, &tabs, now)?;
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn one_leader_per_term_and_a_better_tab_leads_within_the_hysteresis(steps in prop::collection::vec(election_model::step(), 0..80)) {
        if let Err(e) = election_model::run(steps) {
            prop_assert!(false, "{}", e);
        }
    }
}

proptest! {
    /// The hub's JSON numbers: integers exact, everything else within a few ulps of core's
    /// correctly rounded parse.
    #[test]
    fn json_numbers_match_core_s_parse(
        int in -9_007_199_254_740_991i64..=9_007_199_254_740_991,
        mantissa in 0u64..10_000_000_000_000_000,
        fraction in "[0-9]{0,25}",
        exp in -320i32..320,
    ) {
        let text = int.to_string();
        prop_assert_eq!(json::number(text.as_bytes()), int as f64);
        for text in [format!("{mantissa}.{fraction}e{exp}"), format!("-{mantissa}E+{}", exp.abs()), format!("{int}.5")] {
            let text = text.replace(".e", "e").replace(".E", "E");
            let (ours, core) = (json::number(text.as_bytes()), text.parse::<f64>().unwrap());
            let close = ours == core || (ours - core).abs() <= core.abs() * 1e-14 || (core.abs() < 1e-300 && ours.abs() < 1e-300);
            prop_assert!(close, "{}: {} vs {}", text, ours, core);
        }
    }
}

#[test]
fn json_number_edge_cases() {
    for (text, want) in [
        ("0", 0.0),
        ("-0", -0.0),
        ("25000", 25000.0),
        ("1e3", 1000.0),
        ("1.5", 1.5),
        ("-2.25E-2", -0.0225),
        ("123456789012345678901234567890", 1.2345678901234568e29),
        ("1e400", f64::INFINITY),
        ("1e-400", 0.0),
        ("0.000", 0.0),
    ] {
        let got = json::number(text.as_bytes());
        assert!(got == want || (got - want).abs() <= want.abs() * 1e-15, "{text}: {got} vs {want}");
    }
}

// The contract's limits on what a stranger sends a server (the `limits` fuzz target's
// properties): a tab list that passes is within them; a secret event shows nothing of its
// payload, however it is written.
proptest! {
    #[test]
    fn tab_lists_that_pass_are_within_the_limits(tabs in prop::collection::vec(".{0,80}", 0..300)) {
        use switchboard_shared::contract;
        if contract::check_tabs(tabs.iter().map(String::as_str)).is_ok() {
            prop_assert!(tabs.len() <= contract::MAX_REPORTED_TABS);
            prop_assert!(tabs.iter().all(|t| !t.is_empty() && t.len() <= contract::MAX_TAB_ID));
        }
    }

    #[test]
    fn a_secret_events_payload_is_never_shown(payload in json_value(), space in " {0,3}", raw in ".*") {
        use switchboard_shared::contract;
        let framed = format!("[{space}\"sb:auth\"{space},{payload}]");
        prop_assert_eq!(contract::redact_event(&framed), "[\"sb:auth\",\"[redacted]\"]");
        let shown = contract::redact_event(&raw);
        prop_assert!(contract::secret_event(&raw).is_some() || shown == raw.as_str());
    }
}
