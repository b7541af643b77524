//! The hub driven on a virtual clock against a simulated Socket.IO server: every test here
//! runs in microseconds, with no socket, no port and no sleep.

use std::collections::BTreeMap;
use switchboard_shared::contract;
use switchboard_shared::hub::{HubConfig, HubId, Output, Switchboard, TabKey, HELLO_WAIT_MS};
use switchboard_shared::port::{
    self, AckRequest, AuthState, Bytes, Endpoint, ErrorCode, FromHub, Options, Status, ToHub, PROTOCOL_VERSION,
};

const HANDSHAKE: &str =
    r#"0{"sid":"eio1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;

struct Sim {
    sb: Switchboard,
    now: u64,
    /// Current (hub -> conn) of each open socket.
    sockets: BTreeMap<HubId, u32>,
    opens: Vec<(u64, HubId, String)>,
    closes: Vec<(u64, HubId)>,
    /// Frames the server received, per hub.
    server: BTreeMap<HubId, Vec<String>>,
    server_bin: BTreeMap<HubId, Vec<Vec<u8>>>,
    inbox: BTreeMap<TabKey, Vec<FromHub>>,
    logs: Vec<String>,
    watched: Vec<(TabKey, String)>,
    /// Simulated storage: key -> record.
    store: BTreeMap<u64, Vec<u8>>,
    contract: std::collections::BTreeSet<HubId>,
    /// When set, HTTP requests wait in `http` for the test to answer them.
    auth_server: bool,
    http: Vec<(HubId, u32, bool, String, Option<String>)>,
}

fn endpoint(url: &str) -> Endpoint {
    Endpoint { url: url.into(), path: "/socket.io".into(), namespace: "/".into(), query: String::new() }
}

impl Sim {
    fn new() -> Self {
        Self::with(HubConfig::default())
    }
    fn with(config: HubConfig) -> Self {
        Sim {
            sb: Switchboard::new(config, 1234),
            now: 1_000,
            sockets: BTreeMap::new(),
            opens: vec![],
            closes: vec![],
            server: BTreeMap::new(),
            server_bin: BTreeMap::new(),
            inbox: BTreeMap::new(),
            logs: vec![],
            watched: vec![],
            store: BTreeMap::new(),
            contract: Default::default(),
            auth_server: false,
            http: vec![],
        }
    }

    fn pump(&mut self) {
        while let Some(o) = self.sb.poll_output() {
            match o {
                Output::Open { hub, conn, url } => {
                    self.sockets.insert(hub, conn);
                    self.opens.push((self.now, hub, url));
                }
                Output::SendText { hub, text } => self.server.entry(hub).or_default().push(text),
                Output::SendBinary { hub, bytes } => self.server_bin.entry(hub).or_default().push(bytes),
                Output::Close { hub } => {
                    self.sockets.remove(&hub);
                    self.closes.push((self.now, hub));
                }
                Output::Post { tabs, msg } => {
                    // Every message must survive the wire encoding.
                    let bytes = port::encode(&msg);
                    let back: FromHub = port::decode(&bytes).expect("hub output must decode");
                    assert_eq!(back, msg);
                    for t in tabs {
                        self.inbox.entry(t).or_default().push(msg.clone());
                    }
                }
                Output::Log(l) => self.logs.push(l),
                Output::Watch { tab, lock } => self.watched.push((tab, lock)),
                Output::Persist { key, record } => {
                    self.store.insert(key, record);
                }
                Output::Unpersist { key } => {
                    self.store.remove(&key);
                }
                Output::Http { hub, id, post, url, body, .. } => {
                    if self.auth_server {
                        self.http.push((hub, id, post, url, body));
                    } else {
                        // A plain Socket.IO server has no sign-in endpoints.
                        self.sb.handle_http(hub, id, 404, "", self.now);
                    }
                }
            }
        }
    }

    fn send(&mut self, tab: TabKey, msg: ToHub) {
        self.sb.handle_port_message(tab, &port::encode(&msg), self.now);
        self.pump();
    }

    /// Hello with a chosen tab name and connection options.
    fn hello_with(&mut self, tab: TabKey, name: &str, url: &str, options: Options) {
        self.send(
            tab,
            ToHub::Hello { version: PROTOCOL_VERSION, tab: name.into(), endpoint: endpoint(url), auth: None, options },
        );
    }

    fn hello(&mut self, tab: TabKey, url: &str) {
        self.send(
            tab,
            ToHub::Hello {
                version: PROTOCOL_VERSION,
                tab: format!("tab-{tab}"),
                endpoint: endpoint(url),
                auth: None,
                options: Options::default(),
            },
        );
    }

    fn server_sends(&mut self, hub: HubId, frame: &str) {
        let conn = self.sockets[&hub];
        self.sb.handle_socket_text(hub, conn, frame, self.now);
        self.pump();
    }

    fn server_sends_bin(&mut self, hub: HubId, bytes: &[u8]) {
        let conn = self.sockets[&hub];
        self.sb.handle_socket_binary(hub, conn, bytes, self.now);
        self.pump();
    }

    /// Opens the socket and completes the Engine.IO and Socket.IO handshakes.
    fn accept(&mut self, hub: HubId) {
        let conn = self.sockets[&hub];
        self.sb.handle_socket_open(hub, conn, self.now);
        self.server_sends(hub, HANDSHAKE);
        assert_eq!(self.server[&hub].last().map(String::as_str), Some("40"));
        self.server_sends(hub, r#"40{"sid":"s1"}"#);
        if !self.contract.contains(&hub) {
            // A plain Socket.IO server never says sb:hello: the hub decides after a while.
            self.advance(HELLO_WAIT_MS);
        }
    }

    /// Accepts like a server that speaks the Switchboard contract: sb:hello, sb:time.
    fn accept_contract(&mut self, hub: HubId) {
        self.contract.insert(hub);
        self.accept(hub);
        self.server_sends(hub, r#"42["sb:hello",{"v":1}]"#);
    }

    fn persisted_keys(&self) -> Vec<u64> {
        self.store.keys().copied().collect()
    }

    /// The socket closes before it opened; a plain HTTP request to the server said `probe`.
    fn fail_socket(&mut self, hub: HubId, probe: switchboard_shared::hub::Probe) {
        let conn = self.sockets[&hub];
        self.sb.handle_socket_failed(hub, conn, &probe, "http://app.test", self.now);
        self.pump();
    }

    fn drop_socket(&mut self, hub: HubId) {
        let conn = self.sockets[&hub];
        self.sb.handle_socket_closed(hub, conn, self.now);
        self.pump();
    }

    /// Advances virtual time to `t`, firing every deadline on the way.
    fn advance_to(&mut self, t: u64) {
        while let Some(d) = self.sb.poll_timeout().filter(|d| *d <= t) {
            self.now = self.now.max(d);
            self.sb.handle_timeout(self.now);
            self.pump();
        }
        self.now = t;
    }

    fn advance(&mut self, ms: u64) {
        self.advance_to(self.now + ms);
    }

    fn take_inbox(&mut self, tab: TabKey) -> Vec<FromHub> {
        self.inbox.remove(&tab).unwrap_or_default()
    }

    fn server_frames(&mut self, hub: HubId) -> Vec<String> {
        self.server.remove(&hub).unwrap_or_default()
    }

    fn last_status(&self, tab: TabKey) -> Option<Status> {
        self.inbox.get(&tab)?.iter().rev().find_map(|m| match m {
            FromHub::Status(s) => Some(s.clone()),
            FromHub::Welcome { status, .. } => Some(status.clone()),
            _ => None,
        })
    }
}

/// The events tabs got, without the hub's leader announcements (`leaders` has those).
fn events(msgs: &[FromHub]) -> Vec<(String, Option<String>, String)> {
    msgs.iter()
        .filter_map(|m| match m {
            FromHub::Event { event, .. } if event == contract::HUB_LEADER => None,
            FromHub::Event { event, room, args, .. } => Some((event.clone(), room.clone(), args.clone())),
            _ => None,
        })
        .collect()
}

/// The leader announcements a tab got: `[leader, term, scope]` as JSON text.
fn leaders(msgs: &[FromHub]) -> Vec<String> {
    msgs.iter()
        .filter_map(|m| match m {
            FromHub::Event { event, args, .. } if event == contract::HUB_LEADER => Some(args.clone()),
            _ => None,
        })
        .collect()
}

fn emit(event: &str, args: &str, ack: Option<(u32, u32)>) -> ToHub {
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    ToHub::Emit {
        seq: SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        event: event.into(),
        args: args.into(),
        bins: vec![],
        ack: ack.map(|(id, timeout_ms)| AckRequest { id, timeout_ms }),
        volatile: false,
    }
}

#[test]
fn handshake_answers_ping_before_connect_and_reports_connected() {
    let mut s = Sim::new();
    s.hello(1, "http://127.0.0.1:8080");
    assert_eq!(s.opens.len(), 1);
    assert_eq!(s.opens[0].2, "ws://127.0.0.1:8080/socket.io/?EIO=4&transport=websocket");
    assert!(matches!(s.take_inbox(1)[0], FromHub::Welcome { status: Status::Connecting, .. }));
    s.server_sends(1, HANDSHAKE);
    // engineioxide pings before the namespace CONNECT reply: answer at once.
    s.server_sends(1, "2");
    assert_eq!(s.server_frames(1), ["40", "3"]);
    s.server_sends(1, r#"40{"sid":"abc"}"#);
    assert_eq!(s.last_status(1), Some(Status::Connected { sid: "abc".into() }));
}

#[test]
fn tabs_of_one_endpoint_share_one_socket() {
    let mut s = Sim::new();
    for tab in 1..=3 {
        s.hello(tab, "http://a:1");
    }
    s.hello(4, "http://b:1");
    assert_eq!(s.opens.len(), 2, "one socket per endpoint");
    assert_eq!(s.watched[0], (1, "switchboard-tab-tab-1".to_string()), "each tab's lock is watched");
    assert_eq!(s.sb.hub_count(), 2);
    s.accept(1);
    let tabs =
        s.take_inbox(1).into_iter().rev().find_map(|m| if let FromHub::Tabs { tabs } = m { Some(tabs) } else { None });
    assert_eq!(tabs.unwrap(), ["tab-1", "tab-2", "tab-3"]);
    for tab in 1..=3 {
        s.send(tab, ToHub::Subscribe { event: "news".into() });
    }
    s.server_sends(1, r#"42["news",{"n":1},"x"]"#);
    for tab in 1..=3 {
        assert_eq!(events(&s.take_inbox(tab)), [("news".into(), None, r#"[{"n":1},"x"]"#.into())]);
    }
    assert!(events(&s.take_inbox(4)).is_empty(), "another endpoint's tab hears nothing");
}

#[test]
fn events_reach_only_subscribed_tabs() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.hello(2, "http://a:1");
    s.accept(1);
    s.send(1, ToHub::Subscribe { event: "a".into() });
    s.send(2, ToHub::Subscribe { event: "b".into() });
    s.server_sends(1, r#"42["a",1]"#);
    assert_eq!(events(&s.take_inbox(1)).len(), 1);
    assert_eq!(events(&s.take_inbox(2)).len(), 0);
    s.send(1, ToHub::Unsubscribe { event: "a".into() });
    s.server_sends(1, r#"42["a",2]"#);
    assert_eq!(events(&s.take_inbox(1)).len(), 0);
}

#[test]
fn heartbeat_loss_reconnects_on_the_backoff_schedule() {
    let mut s = Sim::new();
    let options = Options { randomization_factor: 0.0, ..Options::default() };
    s.hello_with(1, "a", "http://a:1", options);
    s.accept(1);
    // Pings keep it alive...
    for _ in 0..5 {
        s.advance(25_000);
        s.server_sends(1, "2");
    }
    assert!(s.closes.is_empty());
    // ...and silence for pingInterval + pingTimeout kills it.
    let silent_since = s.now;
    s.advance(44_999);
    assert!(s.closes.is_empty());
    s.advance(1);
    assert_eq!(s.closes, [(silent_since + 45_000, 1)]);
    assert_eq!(
        s.last_status(1),
        Some(Status::Reconnecting { attempt: 1, delay_ms: 1000, reason: "ping timeout".into() })
    );
    // Each failed attempt doubles the delay up to the cap.
    let mut delays = vec![];
    for _ in 0..5 {
        let before = s.opens.len();
        let t0 = s.now;
        s.advance(10_000);
        assert_eq!(s.opens.len(), before + 1);
        delays.push(s.opens.last().unwrap().0 - t0);
        s.drop_socket(1);
    }
    assert_eq!(delays, [1000, 2000, 4000, 5000, 5000]);
    // A successful connection resets the schedule.
    s.advance(10_000);
    s.accept(1);
    s.drop_socket(1);
    assert_eq!(
        s.last_status(1),
        Some(Status::Reconnecting { attempt: 1, delay_ms: 1000, reason: "transport close".into() })
    );
}

#[test]
fn the_first_tab_options_set_the_schedule() {
    let mut s = Sim::new();
    let options = Options {
        reconnection_delay_ms: 100,
        reconnection_delay_max_ms: 150,
        randomization_factor: 0.0,
        ..Options::default()
    };
    s.hello_with(1, "a", "http://a:1", options);
    s.accept(1);
    s.drop_socket(1);
    assert_eq!(
        s.last_status(1),
        Some(Status::Reconnecting { attempt: 1, delay_ms: 100, reason: "transport close".into() })
    );
    s.advance(100);
    s.drop_socket(1);
    assert_eq!(
        s.last_status(1),
        Some(Status::Reconnecting { attempt: 2, delay_ms: 150, reason: "transport close".into() })
    );
    let never = Options { reconnection: false, ..Options::default() };
    s.hello_with(2, "b", "http://b:1", never);
    s.accept(2);
    s.drop_socket(2);
    assert_eq!(s.last_status(2), Some(Status::Disconnected { reason: "transport close".into() }));
}

#[test]
fn connect_timeout_counts_as_a_failed_attempt() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.advance(20_000);
    assert_eq!(s.closes.len(), 1);
    assert!(matches!(s.last_status(1), Some(Status::Reconnecting { attempt: 1, .. })));
}

#[test]
fn ack_is_routed_to_the_tab_that_asked_and_times_out() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.hello(2, "http://a:1");
    s.accept(1);
    s.server_frames(1);
    // Both tabs use their own id 7: the hub must keep them apart.
    s.send(1, emit("echo", r#"["from 1"]"#, Some((7, 5_000))));
    s.send(2, emit("echo", r#"["from 2"]"#, Some((7, 5_000))));
    let frames = s.server_frames(1);
    assert_eq!(frames, [r#"420["echo","from 1"]"#, r#"421["echo","from 2"]"#]);
    s.server_sends(1, r#"431["back 2"]"#);
    s.server_sends(1, r#"430["back 1"]"#);
    let a1: Vec<_> = s.take_inbox(1).into_iter().filter(|m| matches!(m, FromHub::Ack { .. })).collect();
    let a2: Vec<_> = s.take_inbox(2).into_iter().filter(|m| matches!(m, FromHub::Ack { .. })).collect();
    assert_eq!(a1, [FromHub::Ack { id: 7, args: r#"["back 1"]"#.into(), bins: vec![] }]);
    assert_eq!(a2, [FromHub::Ack { id: 7, args: r#"["back 2"]"#.into(), bins: vec![] }]);

    // No answer: the tab hears of the timeout exactly at its deadline, and a late ack is dropped.
    s.send(1, emit("slow", "[]", Some((8, 500))));
    s.advance(499);
    assert!(s.take_inbox(1).is_empty());
    s.advance(1);
    assert_eq!(s.take_inbox(1), [FromHub::AckFailed { id: 8, reason: "operation has timed out".into() }]);
    s.server_sends(1, r#"432[1]"#);
    assert!(s.take_inbox(1).is_empty());
    assert!(s.logs.iter().any(|l| l.contains("matches no pending request")));
}

#[test]
fn emits_while_offline_are_buffered_and_flushed_in_order() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    for i in 0..5 {
        s.send(1, emit("n", &format!("[{i}]"), None));
    }
    assert!(s.server_frames(1).is_empty());
    s.accept(1);
    let frames: Vec<String> = s.server_frames(1).into_iter().filter(|f| f.starts_with("42")).collect();
    assert_eq!(frames, (0..5).map(|i| format!(r#"42["n",{i}]"#)).collect::<Vec<_>>());
}

#[test]
fn offline_buffer_is_bounded_with_a_clear_error() {
    let mut s = Sim::with(HubConfig { max_buffered: 2, ..HubConfig::default() });
    s.hello(1, "http://a:1");
    s.take_inbox(1);
    for i in 0..3 {
        s.send(1, emit("n", &format!("[{i}]"), None));
    }
    let inbox = s.take_inbox(1);
    assert!(
        matches!(&inbox[..], [FromHub::Refused { reason, .. }] if reason.contains("offline queue full")),
        "{inbox:?}"
    );
}

#[test]
fn rooms_join_once_route_by_membership_and_leave_with_the_last_tab() {
    let mut s = Sim::new();
    for tab in 1..=3 {
        s.hello(tab, "http://a:1");
        s.send(tab, ToHub::Subscribe { event: "chat".into() });
    }
    s.accept(1);
    s.server_frames(1);
    s.send(1, ToHub::Join { req: 1, room: "r".into() });
    s.send(2, ToHub::Join { req: 1, room: "r".into() });
    assert_eq!(s.server_frames(1), [r#"420["sb:join","r"]"#], "one join on the server for many tabs");
    s.server_sends(1, r#"430[{"ok":true}]"#);
    assert!(s.take_inbox(1).contains(&FromHub::Done { req: 1, error: None }));
    assert!(s.take_inbox(2).contains(&FromHub::Done { req: 1, error: None }));
    assert_eq!(s.sb.hub(1).unwrap().server_rooms(), ["r"]);

    s.server_sends(1, r#"42["sb:room","r","chat",{"text":"hi"}]"#);
    s.server_sends(1, r#"42["chat","to all"]"#);
    assert_eq!(
        events(&s.take_inbox(1)),
        [("chat".into(), Some("r".into()), r#"[{"text":"hi"}]"#.into()), ("chat".into(), None, r#"["to all"]"#.into())]
    );
    assert_eq!(events(&s.take_inbox(2)).len(), 2);
    assert_eq!(events(&s.take_inbox(3)), [("chat".into(), None, r#"["to all"]"#.into())], "tab 3 is not in r");

    s.send(1, ToHub::Leave { req: 2, room: "r".into() });
    assert!(s.server_frames(1).is_empty(), "tab 2 is still in r");
    assert!(s.take_inbox(1).contains(&FromHub::Done { req: 2, error: None }));
    s.send(2, ToHub::Leave { req: 2, room: "r".into() });
    assert_eq!(s.server_frames(1), [r#"421["sb:leave","r"]"#]);
    assert!(
        !s.take_inbox(2).contains(&FromHub::Done { req: 2, error: None }),
        "leave resolves when the server confirms"
    );
    s.server_sends(1, r#"431[{"ok":true}]"#);
    assert!(s.take_inbox(2).contains(&FromHub::Done { req: 2, error: None }));
    assert!(s.sb.hub(1).unwrap().server_rooms().is_empty());
}

#[test]
fn rooms_are_rejoined_after_a_reconnect_and_a_departed_tab_leaves_its_rooms() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.accept(1);
    s.send(1, ToHub::Join { req: 1, room: "r".into() });
    s.server_sends(1, r#"430[{"ok":true}]"#);
    s.drop_socket(1);
    s.server_frames(1);
    s.advance(10_000);
    s.accept(1);
    assert!(s.server_frames(1).contains(&r#"421["sb:join","r"]"#.to_string()));
    s.server_sends(1, r#"431[{"ok":true}]"#);
    assert_eq!(s.sb.hub(1).unwrap().server_rooms(), ["r"]);
    // The tab vanishes (its lock was released): the hub leaves r for it, then the namespace
    // nobody uses (the connection lingers).
    s.sb.handle_tab_gone(1, s.now);
    s.pump();
    assert_eq!(s.server_frames(1), [r#"422["sb:leave","r"]"#, "41"]);
}

#[test]
fn a_refused_join_is_reported() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.accept(1);
    s.send(1, ToHub::Join { req: 3, room: "secret".into() });
    s.server_sends(1, r#"430[{"error":"forbidden"}]"#);
    assert!(s.take_inbox(1).contains(&FromHub::Done { req: 3, error: Some("forbidden".into()) }));
    assert!(s.sb.hub(1).unwrap().server_rooms().is_empty());
}

#[test]
fn a_join_the_server_never_answers_fails_in_time() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.accept(1);
    s.send(1, ToHub::Join { req: 3, room: "r".into() });
    s.advance(20_000);
    let inbox = s.take_inbox(1);
    assert!(inbox.iter().any(|m| matches!(m, FromHub::Done { req: 3, error: Some(_) })), "{inbox:?}");
}

#[test]
fn binary_events_are_reassembled_and_binary_emits_sent_as_attachments() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.accept(1);
    s.send(1, ToHub::Subscribe { event: "file".into() });
    s.take_inbox(1);
    s.server_sends(1, r#"452-["file",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#);
    assert!(s.take_inbox(1).is_empty(), "waits for both attachments");
    s.server_sends_bin(1, &[1, 2, 3]);
    s.server_sends_bin(1, &[4]);
    let inbox = s.take_inbox(1);
    match &inbox[..] {
        [FromHub::Event { event, bins, .. }] => {
            assert_eq!(event, "file");
            assert_eq!(bins, &[Bytes(vec![1, 2, 3]), Bytes(vec![4])]);
        }
        other => panic!("{other:?}"),
    }
    s.server_frames(1);
    s.send(
        1,
        ToHub::Emit {
            seq: 9999,
            event: "up".into(),
            args: r#"[{"_placeholder":true,"num":0}]"#.into(),
            bins: vec![Bytes(vec![9, 9])],
            ack: None,
            volatile: false,
        },
    );
    assert_eq!(s.server_frames(1), [r#"451-["up",{"_placeholder":true,"num":0}]"#]);
    assert_eq!(s.server_bin[&1], [vec![9, 9]]);
}

#[test]
fn server_acks_are_answered_once() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.hello(2, "http://a:1");
    s.accept(1);
    s.send(1, ToHub::Subscribe { event: "ask".into() });
    s.send(2, ToHub::Subscribe { event: "ask".into() });
    s.server_frames(1);
    s.server_sends(1, r#"4212["ask","q"]"#);
    let token = s
        .take_inbox(1)
        .into_iter()
        .find_map(|m| if let FromHub::Event { reply, .. } = m { reply } else { None })
        .expect("a reply token");
    s.send(1, ToHub::Reply { token, args: r#"["a1"]"#.into(), bins: vec![] });
    s.send(2, ToHub::Reply { token, args: r#"["a2"]"#.into(), bins: vec![] });
    assert_eq!(s.server_frames(1), [r#"4312["a1"]"#]);
}

#[test]
fn connect_error_stops_without_retrying() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    let conn = s.sockets[&1];
    s.sb.handle_socket_open(1, conn, s.now);
    s.server_sends(1, HANDSHAKE);
    s.server_sends(1, r#"44{"message":"not authorized"}"#);
    assert_eq!(s.last_status(1), Some(Status::Disconnected { reason: "connect_error: not authorized".into() }));
    assert_eq!(s.closes.len(), 1);
    s.advance(60_000);
    assert_eq!(s.opens.len(), 1, "no automatic retry after a refusal");
    // A new tab tries again.
    s.hello(2, "http://a:1");
    assert_eq!(s.opens.len(), 2);
}

/// socketioxide removes its namespaces before closing the sockets when it stops: a hub
/// reconnecting meanwhile is told "Invalid namespace". That refusal is retried (queued
/// events would otherwise be stranded until a reload); the restarted server gets them.
#[test]
fn invalid_namespace_from_a_server_in_a_restart_is_retried_and_nothing_is_lost() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.accept(1);
    s.drop_socket(1);
    s.send(1, durable(0, "n", "[0]"));
    s.advance(5_000);
    let conn = s.sockets[&1];
    s.sb.handle_socket_open(1, conn, s.now);
    s.server_sends(1, HANDSHAKE);
    s.server_sends(1, r#"44{"message":"Invalid namespace"}"#);
    assert!(matches!(s.last_status(1), Some(Status::Reconnecting { .. })), "{:?}", s.last_status(1));
    s.server_frames(1);
    let opens = s.opens.len();
    s.advance(5_000);
    assert_eq!(s.opens.len(), opens, "the namespace is asked again on the same connection");
    assert!(s.server_frames(1).contains(&"40".to_string()), "CONNECT again, after a backoff");
    s.server_sends(1, r#"40{"sid":"s2"}"#);
    s.advance(HELLO_WAIT_MS);
    let frames = s.server_frames(1);
    assert!(frames.contains(&r#"42["n",0]"#.to_string()), "the queued event reaches the server: {frames:?}");
}

#[test]
fn the_socket_lingers_after_the_last_tab_then_closes() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.accept(1);
    s.send(1, ToHub::Bye);
    s.advance(1_999);
    assert!(s.closes.is_empty());
    s.hello(2, "http://a:1");
    s.advance(5_000);
    assert!(s.closes.is_empty(), "a tab came back within the linger time");
    s.send(2, ToHub::Bye);
    s.advance(2_000);
    assert_eq!(s.closes.len(), 1);
    assert_eq!(s.sb.hub_count(), 0);
}

#[test]
fn bad_input_from_pages_gets_error_values() {
    let mut s = Sim::new();
    // Garbage before Hello.
    s.sb.handle_port_message(1, &[0xde, 0xad, 0xbe, 0xef], s.now);
    s.sb.handle_port_garbage(2, "a string");
    s.pump();
    assert!(matches!(s.take_inbox(1)[..], [FromHub::Error { code: ErrorCode::BadMessage, .. }]));
    assert!(matches!(s.take_inbox(2)[..], [FromHub::Error { code: ErrorCode::BadMessage, .. }]));
    // A message before Hello: this hub never welcomed the port (it may have started again
    // under it), so the tab is told to attach.
    s.send(3, ToHub::Subscribe { event: "x".into() });
    assert!(matches!(s.take_inbox(3)[..], [FromHub::Error { code: ErrorCode::NotAttached, .. }]));
    s.send(
        4,
        ToHub::Hello {
            version: 999,
            tab: "t".into(),
            endpoint: endpoint("http://a:1"),
            auth: None,
            options: Options::default(),
        },
    );
    assert!(matches!(s.take_inbox(4)[..], [FromHub::Error { code: ErrorCode::VersionMismatch, .. }]));
    s.send(
        5,
        ToHub::Hello {
            version: PROTOCOL_VERSION,
            tab: "t".into(),
            endpoint: endpoint("javascript:alert(1)"),
            auth: None,
            options: Options::default(),
        },
    );
    assert!(matches!(s.take_inbox(5)[..], [FromHub::Error { code: ErrorCode::BadEndpoint, .. }]));
    s.send(
        6,
        ToHub::Hello {
            version: PROTOCOL_VERSION,
            tab: "t".into(),
            endpoint: endpoint("http://a:1"),
            auth: Some("[1]".into()),
            options: Options::default(),
        },
    );
    assert!(matches!(s.take_inbox(6)[..], [FromHub::Error { code: ErrorCode::BadPayload, .. }]));
    assert_eq!(s.opens.len(), 0);

    // A valid tab sending bad emits.
    s.hello(7, "http://a:1");
    s.accept(1);
    s.take_inbox(7);
    s.server_frames(1);
    s.send(7, emit("x", "{not json", None));
    s.send(7, emit("connect", "[]", None));
    s.send(7, emit("sb:join", r#"["r"]"#, None));
    s.send(7, emit("x", r#"{"a":1}"#, Some((1, 100))));
    let inbox = s.take_inbox(7);
    assert_eq!(inbox.len(), 4, "{inbox:?}");
    assert!(matches!(inbox[3], FromHub::AckFailed { id: 1, .. }));
    assert!(s.server_frames(1).is_empty(), "nothing malformed reaches the server");
    s.sb.handle_port_message(7, &[5, 200], s.now);
    s.pump();
    assert!(matches!(s.take_inbox(7)[..], [FromHub::Error { code: ErrorCode::BadMessage, .. }]));
    // The tab still works.
    s.send(7, emit("x", "[1]", None));
    assert_eq!(s.server_frames(1), [r#"42["x",1]"#]);
}

#[test]
fn bad_frames_from_the_server_are_logged_not_fatal() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.accept(1);
    s.send(1, ToHub::Subscribe { event: "ok".into() });
    for bad in
        ["", "9", "4", "49", "42", "42{", "42[1]", r#"42["sb:room"]"#, "0{}", "45-[]", "43[1]", "4299999999999999999[]"]
    {
        s.server_sends(1, bad);
    }
    s.server_sends_bin(1, &[1, 2, 3]);
    s.server_sends(1, r#"42["ok"]"#);
    assert_eq!(events(&s.take_inbox(1)).len(), 1);
    assert!(s.logs.len() >= 10, "{:?}", s.logs);
    assert!(s.closes.is_empty());
}

// --- Durability: the offline queue, receipts, restore, clock, network --------------------

fn durable(seq: u32, event: &str, args: &str) -> ToHub {
    ToHub::Emit { seq, event: event.into(), args: args.into(), bins: vec![], ack: None, volatile: false }
}

fn stored(msgs: &[FromHub]) -> Vec<u32> {
    msgs.iter().filter_map(|m| if let FromHub::Stored { seq } = m { Some(*seq) } else { None }).collect()
}

/// Event frames, without the hub's announcements (`sb:tabs`, and `sb:priority` for the
/// leader election).
fn emits(frames: &[String]) -> Vec<String> {
    let announcement = |f: &String| f.contains(r#"["sb:tabs""#) || f.contains(r#"["sb:priority""#);
    frames.iter().filter(|f| f.starts_with("42") && !announcement(f)).cloned().collect()
}

#[test]
fn offline_emits_are_persisted_then_sent_in_envelopes_and_deleted_on_receipt() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    for i in 0..3 {
        s.send(1, durable(i, "n", &format!("[{i}]")));
    }
    assert_eq!(s.persisted_keys().len(), 3, "queued while offline means stored");
    assert!(stored(&s.take_inbox(1)).is_empty(), "Stored waits for storage to confirm");
    let keys = s.persisted_keys();
    s.sb.handle_persisted(&keys);
    s.pump();
    assert_eq!(stored(&s.take_inbox(1)), [0, 1, 2]);

    s.accept_contract(1);
    let frames = emits(&s.server_frames(1));
    // sb:time first (ack 0), then the queue in order, each with its id and a receipt request.
    assert_eq!(frames[0], r#"420["sb:time"]"#);
    assert_eq!(
        &frames[1..],
        [r#"421["sb:emit","tab-1-0","n",0]"#, r#"422["sb:emit","tab-1-1","n",1]"#, r#"423["sb:emit","tab-1-2","n",2]"#]
    );
    assert_eq!(s.persisted_keys().len(), 3, "kept until the server's receipt");
    s.server_sends(1, r#"431[{"ok":true}]"#);
    s.server_sends(1, r#"432[{"ok":true}]"#);
    assert_eq!(s.persisted_keys().len(), 1);
    // Connected and known: a new emit goes straight out, Stored once the receipt arrives.
    s.send(1, durable(3, "n", "[3]"));
    assert_eq!(emits(&s.server_frames(1)), [r#"424["sb:emit","tab-1-3","n",3]"#]);
    assert!(stored(&s.take_inbox(1)).is_empty());
    s.server_sends(1, r#"434[{"ok":true}]"#);
    assert_eq!(stored(&s.take_inbox(1)), [3]);
}

#[test]
fn emits_in_flight_when_the_socket_drops_are_stored_and_resent_in_order() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.accept_contract(1);
    s.server_frames(1);
    for i in 0..4 {
        s.send(1, durable(i, "n", &format!("[{i}]")));
    }
    s.server_sends(1, r#"431[{"ok":true}]"#); // only the first got its receipt
    s.drop_socket(1);
    assert_eq!(s.persisted_keys().len(), 3, "unacknowledged emits go to storage");
    s.send(1, durable(4, "n", "[4]"));
    s.server_frames(1);
    s.advance(10_000);
    s.accept_contract(1);
    let frames = emits(&s.server_frames(1));
    let ids: Vec<&str> =
        frames.iter().filter_map(|f| f.split('"').nth(3)).filter(|id| id.starts_with("tab-")).collect();
    assert_eq!(ids, ["tab-1-1", "tab-1-2", "tab-1-3", "tab-1-4"], "same ids, same order, nothing lost");
}

#[test]
fn a_restarted_hub_restores_the_queue_and_ignores_a_pages_resend() {
    // First worker: queue two emits offline.
    let mut first = Sim::new();
    first.hello(1, "http://a:1");
    first.send(1, durable(0, "n", "[0]"));
    first.send(1, durable(1, "n", "[1]"));
    let records: Vec<(u64, Vec<u8>)> = first.store.clone().into_iter().collect();
    assert_eq!(records.len(), 2);

    // A new worker reads storage, then the same tab comes back and resends emit 1.
    let mut s = Sim::new();
    s.sb.handle_restore(records.into_iter().chain([(99, vec![1, 2, 3])]).collect(), s.now);
    s.pump();
    assert!(!s.store.contains_key(&99) && s.logs.iter().any(|l| l.contains("unreadable")));
    assert_eq!(s.sb.parked_count(), 2);
    s.hello(1, "http://a:1");
    assert_eq!(s.sb.parked_count(), 0);
    s.send(1, durable(1, "n", "[1]"));
    assert_eq!(stored(&s.take_inbox(1)), [1], "already held: acknowledged, not queued twice");
    s.send(1, durable(2, "n", "[2]"));
    s.accept_contract(1);
    let frames = emits(&s.server_frames(1));
    assert_eq!(
        &frames[1..],
        [r#"421["sb:emit","tab-1-0","n",0]"#, r#"422["sb:emit","tab-1-1","n",1]"#, r#"423["sb:emit","tab-1-2","n",2]"#]
    );
}

#[test]
fn a_plain_server_gets_plain_events_after_the_hello_window() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.send(1, durable(0, "n", "[0]"));
    let conn = s.sockets[&1];
    s.sb.handle_socket_open(1, conn, s.now);
    s.server_sends(1, HANDSHAKE);
    s.server_sends(1, r#"40{"sid":"x"}"#);
    s.advance(HELLO_WAIT_MS - 1);
    assert!(emits(&s.server_frames(1)).is_empty(), "waiting to learn what the server speaks");
    s.advance(1);
    assert_eq!(emits(&s.server_frames(1)), [r#"42["n",0]"#]);
    assert!(s.store.is_empty(), "no receipt to wait for: deleted once written");
    // Later emits go out at once.
    s.send(1, durable(1, "n", "[1]"));
    assert_eq!(emits(&s.server_frames(1)), [r#"42["n",1]"#]);
    assert!(stored(&s.take_inbox(1)).contains(&1));
}

#[test]
fn old_queued_emits_expire_with_an_error_to_their_tab() {
    let mut s = Sim::with(HubConfig { max_age_ms: 60_000, ..HubConfig::default() });
    s.sb.set_wall_clock(1_700_000_000_000, s.now);
    s.hello(1, "http://a:1");
    s.send(1, durable(0, "n", "[0]"));
    s.advance(61_000);
    s.accept_contract(1);
    assert_eq!(emits(&s.server_frames(1)), [r#"420["sb:time"]"#]);
    assert!(s
        .take_inbox(1)
        .iter()
        .any(|m| matches!(m, FromHub::Refused { seq: 0, reason } if reason.contains("expired"))));
    assert!(s.store.is_empty());
}

#[test]
fn volatile_emits_are_never_queued() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    let v = |i: u32| ToHub::Emit {
        seq: i,
        event: "v".into(),
        args: format!("[{i}]"),
        bins: vec![],
        ack: None,
        volatile: true,
    };
    s.send(1, v(0));
    s.accept(1);
    s.send(1, v(1));
    assert_eq!(emits(&s.server_frames(1)), [r#"42["v",1]"#]);
    assert!(s.store.is_empty());
}

#[test]
fn the_clock_offset_comes_from_the_lowest_latency_sample() {
    let mut s = Sim::new();
    s.sb.set_wall_clock(1_000_000, s.now); // wall = monotonic + 999_000
    let wall = |mono: u64| mono + 999_000;
    s.hello(1, "http://a:1");
    s.accept_contract(1);
    s.take_inbox(1);
    // The server's clock runs 5 s ahead; it answers sb:time (ack 0) 100 ms after we asked.
    let sent = s.now;
    s.advance(100);
    s.server_sends(1, &format!(r#"430[{{"time":{}}}]"#, wall(sent + 50) + 5_000));
    let clocks = |msgs: Vec<FromHub>| -> Vec<(i64, u32)> {
        msgs.into_iter()
            .filter_map(|m| if let FromHub::Clock { offset_ms, rtt_ms } = m { Some((offset_ms, rtt_ms)) } else { None })
            .collect()
    };
    assert_eq!(clocks(s.take_inbox(1)), [(5_000, 100)]);
    // A slower sample after a reconnect does not replace it.
    s.drop_socket(1);
    s.advance(10_000);
    s.accept_contract(1);
    let sent = s.now;
    s.advance(400);
    let frames = s.server_frames(1);
    let time_ack = frames
        .iter()
        .rev()
        .find(|f| f.contains("sb:time"))
        .and_then(|f| f.get(2..f.find('[')?))
        .expect("an sb:time request")
        .to_string();
    s.server_sends(1, &format!(r#"43{time_ack}[{{"time":{}}}]"#, wall(sent + 200) + 7_000));
    assert!(clocks(s.take_inbox(1)).is_empty());
}

#[test]
fn offline_pauses_reconnection_and_online_retries_at_once() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.accept(1);
    s.drop_socket(1);
    s.sb.handle_network(false, s.now);
    s.pump();
    assert_eq!(s.last_status(1), Some(Status::Offline));
    let opens = s.opens.len();
    s.advance(60_000);
    assert_eq!(s.opens.len(), opens, "no attempts while offline");
    s.sb.handle_network(true, s.now);
    s.pump();
    assert_eq!(s.opens.len(), opens + 1, "the network is back: try now");
    assert_eq!(s.last_status(1), Some(Status::Connecting));
}

#[test]
fn numbered_events_are_delivered_once_and_resumed_after_a_reconnect() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.send(1, ToHub::Subscribe { event: "news".into() });
    s.accept_contract(1);
    s.server_sends(1, r#"42["sb:seq",1,"news",{"n":1}]"#);
    s.server_sends(1, r#"42["sb:seq",1,"news",{"n":1}]"#); // a replay we already had
    s.server_sends(1, r#"42["sb:seq",2,"news"]"#);
    assert_eq!(
        events(&s.take_inbox(1)),
        [("news".into(), None, r#"[{"n":1}]"#.into()), ("news".into(), None, "[]".into())]
    );
    s.drop_socket(1);
    s.server_frames(1);
    s.advance(10_000);
    s.accept_contract(1);
    let resume = s.server_frames(1).into_iter().find(|f| f.contains("sb:resume")).expect("a resume request");
    assert!(resume.ends_with(r#"["sb:resume",2]"#), "{resume}");
    let id = &resume[2..resume.find('[').unwrap_or(2)];
    s.server_sends(1, r#"42["sb:seq",3,"news",3]"#);
    s.server_sends(1, &format!(r#"43{id}[{{"recovered":true}}]"#));
    let inbox = s.take_inbox(1);
    assert_eq!(events(&inbox), [("news".into(), None, "[3]".into())]);
    assert!(inbox.contains(&FromHub::Recovered { recovered: true }));
}

/// `recovered` after every reconnection, never on a first connection: a hub that saw no
/// numbered event resumes after the `seq` the server's first hello announced (so what was
/// published while it was away is replayed), and a contract server whose hello has no `seq`
/// gets a plain "not recovered".
#[test]
fn every_reconnection_says_whether_it_recovered() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.send(1, ToHub::Subscribe { event: "news".into() });
    s.contract.insert(1);
    s.accept(1);
    s.server_sends(1, r#"42["sb:hello",{"v":1,"seq":41}]"#);
    let first = s.server_frames(1);
    assert!(!first.iter().any(|f| f.contains("sb:resume")), "a first connection resumes nothing: {first:?}");
    assert!(!s.take_inbox(1).iter().any(|m| matches!(m, FromHub::Recovered { .. })), "first: no verdict");
    s.drop_socket(1);
    s.advance(10_000);
    s.accept(1);
    s.server_sends(1, r#"42["sb:hello",{"v":1,"seq":44}]"#);
    let resume = s.server_frames(1).into_iter().find(|f| f.contains("sb:resume")).expect("a resume request");
    assert!(resume.ends_with(r#"["sb:resume",41]"#), "after the first hello's seq: {resume}");
    let id = &resume[2..resume.find('[').unwrap_or(2)];
    for n in 42..=44 {
        s.server_sends(1, &format!(r#"42["sb:seq",{n},"news",{n}]"#));
    }
    s.server_sends(1, &format!(r#"43{id}[{{"recovered":true}}]"#));
    let inbox = s.take_inbox(1);
    assert_eq!(events(&inbox).len(), 3, "what was published while away: {inbox:?}");
    assert!(inbox.contains(&FromHub::Recovered { recovered: true }));

    // A contract server that announces no seq, to a hub that saw nothing numbered.
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.accept_contract(1);
    s.drop_socket(1);
    s.advance(10_000);
    s.accept_contract(1);
    assert!(!s.server_frames(1).iter().any(|f| f.contains("sb:resume")));
    assert!(s.take_inbox(1).contains(&FromHub::Recovered { recovered: false }));
}

#[test]
fn queue_bounds_come_from_the_first_tabs_options() {
    let mut s = Sim::new();
    let options = Options { max_queue: 1, ..Options::default() };
    s.hello_with(1, "a", "http://a:1", options);
    s.send(1, durable(0, "n", "[0]"));
    s.send(1, durable(1, "n", "[1]"));
    let inbox = s.take_inbox(1);
    assert!(
        inbox.iter().any(|m| matches!(m, FromHub::Refused { seq: 1, reason } if reason.contains("limits 1 "))),
        "{inbox:?}"
    );
}

// --- Sign-in: single-flight refresh, token events, shared state ---------------------------

fn auth_of(msgs: &[FromHub]) -> Option<AuthState> {
    msgs.iter().rev().find_map(|m| if let FromHub::Auth(a) = m { Some(a.clone()) } else { None })
}

fn answer(s: &mut Sim, path: &str, status: u16, body: &str) -> usize {
    let calls: Vec<_> = s.http.iter().filter(|c| c.3.ends_with(path)).cloned().collect();
    s.http.retain(|c| !c.3.ends_with(path));
    for (hub, id, _, _, _) in &calls {
        s.sb.handle_http(*hub, *id, status, body, s.now);
    }
    s.pump();
    calls.len()
}

#[test]
fn many_tabs_asking_for_a_refresh_make_one_request_and_all_learn_the_result() {
    let mut s = Sim::new();
    s.auth_server = true;
    s.sb.set_wall_clock(1_700_000_000_000, s.now);
    for tab in 1..=5 {
        s.hello(tab, "http://a:1");
    }
    assert_eq!(s.http.len(), 1, "one session check for the hub");
    assert_eq!(s.http[0].3, "http://a:1/auth/session");
    let exp = 1_700_000_000_000 + 60_000;
    answer(&mut s, "/auth/session", 200, &format!(r#"{{"user":"alice","expires_at":{exp}}}"#));
    for tab in 1..=5 {
        assert_eq!(auth_of(&s.take_inbox(tab)).and_then(|a| a.user), Some("alice".into()));
    }
    s.advance(5_000);
    for tab in 1..=5 {
        s.send(tab, ToHub::Refresh { req: 10 });
    }
    assert_eq!(s.http.iter().filter(|c| c.3.ends_with("/auth/refresh")).count(), 1, "single flight");
    let exp2 = exp + 60_000;
    assert_eq!(answer(&mut s, "/auth/refresh", 200, &format!(r#"{{"user":"alice","expires_at":{exp2}}}"#)), 1);
    for tab in 1..=5 {
        let inbox = s.take_inbox(tab);
        assert!(inbox.contains(&FromHub::Done { req: 10, error: None }));
        assert_eq!(auth_of(&inbox).and_then(|a| a.expires_at), Some(exp2));
    }
    // Asking again right after: satisfied without another request.
    s.send(1, ToHub::Refresh { req: 11 });
    assert!(s.http.is_empty());
    assert!(s.take_inbox(1).contains(&FromHub::Done { req: 11, error: None }));
}

#[test]
fn the_hub_refreshes_ahead_of_expiry_and_on_token_expiring() {
    let mut s = Sim::new();
    s.auth_server = true;
    let wall = 1_700_000_000_000u64;
    s.sb.set_wall_clock(wall, s.now);
    s.hello(1, "http://a:1");
    s.accept_contract(1);
    let t0 = s.now;
    answer(
        &mut s,
        "/auth/session",
        200,
        &format!(r#"{{"user":"alice","expires_at":{}}}"#, wall + (t0 - 1_000) + 30_000),
    );
    for _ in 0..2 {
        s.advance(9_999);
        s.server_sends(1, "2");
    }
    s.advance(1);
    assert!(s.http.is_empty());
    s.advance(1);
    assert_eq!(s.http.len(), 1, "refresh at two thirds of the remaining life: {} ms", s.now - t0);
    let body = format!(r#"{{"user":"alice","expires_at":{}}}"#, wall + (s.now - 1_000) + 30_000);
    answer(&mut s, "/auth/refresh", 200, &body);
    s.advance(2_000);
    s.server_sends(1, r#"42["TOKEN_EXPIRING",{"expires_at":1}]"#);
    assert_eq!(s.http.len(), 1, "TOKEN_EXPIRING asks for a refresh");
}

#[test]
fn refresh_outages_keep_the_user_signed_in_and_a_401_signs_every_tab_out() {
    let mut s = Sim::new();
    s.auth_server = true;
    s.sb.set_wall_clock(1_700_000_000_000, s.now);
    s.hello(1, "http://a:1");
    s.hello(2, "http://a:1");
    answer(&mut s, "/auth/session", 200, r#"{"user":"bob","expires_at":1700000600000}"#);
    s.send(1, ToHub::Refresh { req: 1 });
    answer(&mut s, "/auth/refresh", 503, r#"{"error":"refresh is down"}"#);
    let a = auth_of(&s.take_inbox(2)).expect("auth update");
    assert_eq!(a.user.as_deref(), Some("bob"), "still signed in");
    assert!(a.error.as_deref().is_some_and(|e| e.contains("refresh is down") && e.contains("retrying")), "{a:?}");
    s.advance(2_000);
    assert_eq!(answer(&mut s, "/auth/refresh", 0, ""), 1, "retried after the backoff");
    s.advance(4_000);
    answer(&mut s, "/auth/refresh", 401, r#"{"error":"refresh token reuse: session revoked"}"#);
    for tab in [1, 2] {
        let a = auth_of(&s.take_inbox(tab)).expect("auth update");
        assert_eq!(a.user, None);
        assert_eq!(a.signed_out.as_deref(), Some("refresh token reuse: session revoked"));
    }
    let t = s.sb.hub(1).expect("hub").auth_state().telemetry.clone();
    assert_eq!(t.failures, [("http 503".to_string(), 1), ("network".to_string(), 1), ("refused".to_string(), 1)]);
    assert_eq!(t.sign_outs, [("refresh token reuse: session revoked".to_string(), 1)]);
}

/// Signed in here, a guest to the server (it forgot the session): the hub asks with a
/// refresh at once (even right after one), and a refusal signs every tab out with its reason;
/// a socket assigned its user room asks nothing.
#[test]
fn a_server_that_sees_a_guest_makes_the_hub_check_its_session() {
    let mut s = Sim::new();
    s.auth_server = true;
    s.sb.set_wall_clock(1_700_000_000_000, s.now);
    s.hello(1, "http://a:1");
    answer(&mut s, "/auth/session", 200, r#"{"user":"alice","expires_at":1700000600000}"#);
    answer(&mut s, "/auth/refresh", 200, r#"{"user":"alice","expires_at":1700000600000}"#);
    s.accept_contract(1);
    let asked = s.http.len();
    s.server_sends(1, r#"42["sb:rooms",["user:alice","session:s1"]]"#);
    assert_eq!(s.http.len(), asked, "its user room: nothing to check");
    s.server_sends(1, r#"42["sb:rooms",["device:d1"]]"#);
    assert!(s.http.last().is_some_and(|c| c.3.ends_with("/auth/refresh")), "a guest: the session is checked");
    // Said again before the answer, or after it: one check per session, however often.
    s.server_sends(1, r#"42["sb:rooms",["device:d1"]]"#);
    answer(&mut s, "/auth/refresh", 200, r#"{"user":"alice","expires_at":1700000600000}"#);
    let asked = s.http.len();
    for _ in 0..5 {
        s.server_sends(1, r#"42["sb:rooms",["device:d1"]]"#);
    }
    assert_eq!(s.http.len(), asked, "a server repeating sb:rooms makes no refresh loop");
    s.drop_socket(1);
    s.advance(10_000);
    s.accept_contract(1);
    s.server_sends(1, r#"42["sb:rooms",["device:d1"]]"#);
    assert!(s.http.last().is_some_and(|c| c.3.ends_with("/auth/refresh")), "a new session checks again");
    answer(&mut s, "/auth/refresh", 401, &format!(r#"{{"error":"{}"}}"#, contract::SESSION_UNKNOWN));
    let a = auth_of(&s.take_inbox(1)).expect("auth update");
    assert_eq!((a.user, a.signed_out.as_deref()), (None, Some(contract::SESSION_UNKNOWN)));
}

#[test]
fn login_signs_in_every_tab_and_reconnects_the_socket_with_its_cookie() {
    let mut s = Sim::new();
    s.auth_server = true;
    s.hello(1, "http://a:1");
    s.hello(2, "http://a:1");
    answer(&mut s, "/auth/session", 401, "");
    answer(&mut s, "/auth/refresh", 401, r#"{"error":"no refresh token"}"#);
    s.accept(1);
    let opens = s.opens.len();
    s.send(1, ToHub::Login { req: 3, username: "alice".into(), password: "p\"w".into() });
    let call = s.http.last().cloned().expect("a login request");
    assert_eq!(
        (call.2, call.3.as_str(), call.4.as_deref()),
        (true, "http://a:1/auth/login", Some(r#"{"username":"alice","password":"p\"w"}"#))
    );
    answer(&mut s, "/auth/login", 200, r#"{"user":"alice","expires_at":1700000600000}"#);
    assert!(s.take_inbox(1).contains(&FromHub::Done { req: 3, error: None }));
    assert_eq!(auth_of(&s.take_inbox(2)).and_then(|a| a.user), Some("alice".into()), "the other tab is signed in");
    assert_eq!(s.opens.len(), opens + 1, "a new handshake carries the new cookie");
    s.accept(1);
    s.server_sends(1, r#"42["TOKEN_INVALIDATED",{"reason":"logout"}]"#);
    assert_eq!(auth_of(&s.take_inbox(2)).and_then(|a| a.signed_out), Some("logout".into()));
}

#[test]
fn sign_in_requests_go_one_at_a_time_so_cookies_change_in_order() {
    let mut s = Sim::new();
    s.auth_server = true;
    s.hello(1, "http://a:1");
    answer(&mut s, "/auth/session", 401, "");
    // The refresh (sent without a cookie) is still in the air when the user signs in: the
    // login waits for it, else its answer (which may clear cookies) could land after the
    // login's and undo it.
    s.send(1, ToHub::Login { req: 1, username: "alice".into(), password: "pw".into() });
    let in_air: Vec<&str> = s.http.iter().map(|c| c.3.as_str()).collect();
    assert_eq!(in_air, ["http://a:1/auth/refresh"], "the login waits");
    assert_eq!(answer(&mut s, "/auth/refresh", 401, r#"{"error":"no refresh token"}"#), 1);
    assert_eq!(answer(&mut s, "/auth/login", 200, r#"{"user":"alice","expires_at":1700000600000}"#), 1);
    assert_eq!(auth_of(&s.take_inbox(1)).and_then(|a| a.user), Some("alice".into()), "signed in");
    assert!(s.http.is_empty());
}

#[test]
fn a_refresh_that_waited_behind_a_login_is_not_sent() {
    let mut s = Sim::new();
    s.auth_server = true;
    s.hello(1, "http://a:1");
    s.send(1, ToHub::Login { req: 1, username: "alice".into(), password: "pw".into() });
    // The session check is in the air, the login waits; the check says "not signed in",
    // which asks for a refresh: it queues behind the login and is dropped once the login
    // made it pointless (its answer would describe the state before the login).
    answer(&mut s, "/auth/session", 401, "");
    answer(&mut s, "/auth/login", 200, r#"{"user":"alice","expires_at":1700000600000}"#);
    assert!(s.http.is_empty(), "no refresh after the login: {:?}", s.http);
    assert_eq!(auth_of(&s.take_inbox(1)).and_then(|a| a.user), Some("alice".into()));
}

#[test]
fn a_contract_server_learns_the_tabs_and_can_address_one() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.hello(2, "http://a:1");
    for tab in [1, 2] {
        s.send(tab, ToHub::Subscribe { event: "ping".into() });
    }
    s.accept_contract(1);
    assert!(s.server_frames(1).contains(&r#"42["sb:tabs",["tab-1","tab-2"]]"#.to_string()));
    s.server_sends(1, r#"42["sb:tab","tab-2","ping",1]"#);
    assert!(events(&s.take_inbox(1)).is_empty());
    assert_eq!(events(&s.take_inbox(2)), [("ping".into(), None, "[1]".into())]);
    // Each tab's own room, `tab:{id}` (the server puts the socket in it from sb:tabs).
    s.server_sends(1, r#"42["sb:room","tab:tab-1","ping",2]"#);
    assert_eq!(events(&s.take_inbox(1)), [("ping".into(), Some("tab:tab-1".into()), "[2]".into())]);
    assert!(events(&s.take_inbox(2)).is_empty());
    s.send(1, ToHub::Bye);
    assert!(s.server_frames(1).contains(&r#"42["sb:tabs",["tab-2"]]"#.to_string()));
}

/// The service-worker role: a switchboard with no tab that restored the `count` emits one
/// tab stored (`n` 0.., on http://a:1) and was asked to flush them.
fn flushing(count: u32) -> Sim {
    let mut first = Sim::new();
    first.hello(1, "http://a:1");
    for i in 0..count {
        first.send(1, durable(i, "n", &format!("[{i}]")));
    }
    let records: Vec<(u64, Vec<u8>)> = first.store.clone().into_iter().collect();
    let mut s = Sim::new();
    s.store = first.store.clone();
    s.sb.handle_restore(records, s.now);
    s.sb.handle_flush(s.now);
    s.pump();
    s
}

#[test]
fn with_no_tab_open_a_flush_delivers_stored_emits() {
    let mut s = flushing(2);
    assert_eq!(s.opens.len(), 1, "a socket for the endpoint with stored emits");
    s.accept_contract(1);
    assert_eq!(s.sb.undelivered(), 2);
    s.server_sends(1, r#"431[{"ok":true}]"#);
    s.server_sends(1, r#"432[{"ok":true}]"#);
    assert_eq!(s.sb.undelivered(), 0);
    assert!(s.store.is_empty(), "delivered and deleted");
}

/// The service-worker role: a hub with no tab whose connection is lost while it holds stored
/// emits reconnects (a hub without tabs used to go idle and never deliver them).
#[test]
fn with_no_tab_open_a_lost_connection_is_retried_until_the_stored_emits_are_delivered() {
    let mut s = flushing(1);
    s.accept_contract(1);
    s.drop_socket(1);
    assert_eq!(s.opens.len(), 1);
    s.advance(5_000);
    assert_eq!(s.opens.len(), 2, "reconnected after its backoff");
    s.accept_contract(1);
    let frames = s.server_frames(1);
    assert_eq!(envelope_ids(&frames), ["tab-1-0", "tab-1-0"], "sent, then resent on the new connection");
    // Its receipt, under the ack id the last envelope carries (`42<id>["sb:emit",…`).
    let envelope = frames.iter().rev().find(|f| f.contains(r#"["sb:emit","#)).expect("the envelope");
    let ack_id: String = envelope[2..].chars().take_while(char::is_ascii_digit).collect();
    s.server_sends(1, &format!(r#"43{ack_id}[{{"ok":true}}]"#));
    assert_eq!(s.sb.undelivered(), 0);
    assert!(s.store.is_empty(), "delivered and deleted");
}

// ---------------------------------------------------------------------------------------
// One teardown: every way a session ends puts back what it must.
// ---------------------------------------------------------------------------------------

/// Ids of the `sb:emit` envelopes among `frames`.
fn envelope_ids(frames: &[String]) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f.contains(r#"["sb:emit","#))
        .filter_map(|f| f.split('"').nth(3).map(String::from))
        .collect()
}

#[test]
fn a_hub_that_lingers_out_with_emits_in_flight_loses_nothing_when_a_tab_comes_back() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.accept_contract(1);
    s.server_frames(1);
    s.send(1, durable(0, "n", "[0]"));
    s.send(1, durable(1, "n", "[1]"));
    assert_eq!(envelope_ids(&s.server_frames(1)), ["tab-1-0", "tab-1-1"]);
    // The tab leaves before any receipt; the socket lingers, then closes.
    s.send(1, ToHub::Bye);
    s.advance(2_000);
    assert_eq!(s.closes.len(), 1, "closed after the linger time");
    assert_eq!(s.persisted_keys().len(), 2, "emits without a receipt are stored when the session ends");
    assert_eq!(s.sb.undelivered(), 2);
    // A tab comes back: a new session resends both, same ids, same order.
    s.hello(2, "http://a:1");
    assert_eq!(s.opens.len(), 2, "a new socket");
    s.accept_contract(1);
    let frames = s.server_frames(1);
    assert_eq!(envelope_ids(&frames), ["tab-1-0", "tab-1-1"]);
    for f in frames.iter().filter(|f| f.contains(r#"["sb:emit","#)) {
        let ack: String = f[2..].chars().take_while(char::is_ascii_digit).collect();
        s.server_sends(1, &format!(r#"43{ack}[{{"ok":true}}]"#));
    }
    assert_eq!(s.sb.undelivered(), 0);
    assert!(s.store.is_empty(), "delivered and deleted");
}

#[test]
fn a_hub_that_lingers_out_with_emits_in_flight_loses_nothing_across_a_worker_restart() {
    let mut first = Sim::new();
    first.hello(1, "http://a:1");
    first.accept_contract(1);
    first.send(1, durable(0, "n", "[0]"));
    first.send(1, durable(1, "n", "[1]"));
    first.send(1, ToHub::Bye);
    first.advance(2_000);
    // The worker dies with its last tab; a new one reads storage.
    let records: Vec<(u64, Vec<u8>)> = first.store.clone().into_iter().collect();
    assert_eq!(records.len(), 2, "in-flight emits reached storage before the worker could die");
    let mut s = Sim::new();
    s.store = first.store.clone();
    s.sb.handle_restore(records, s.now);
    s.hello(1, "http://a:1");
    s.accept_contract(1);
    assert_eq!(envelope_ids(&s.server_frames(1)), ["tab-1-0", "tab-1-1"]);
}

#[test]
fn a_linger_close_forgets_the_sessions_rooms_and_requests() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.accept_contract(1);
    // An emit in flight keeps the hub after the linger close; a join is in the air (ack 2).
    s.send(1, durable(0, "n", "[0]"));
    s.send(1, ToHub::Join { req: 1, room: "r".into() });
    assert!(s.server_frames(1).contains(&r#"422["sb:join","r"]"#.to_string()));
    s.send(1, ToHub::Bye);
    s.advance(2_000);
    assert_eq!(s.closes.len(), 1);
    s.hello(2, "http://a:1");
    assert_eq!(s.sb.hub_count(), 1, "the hub with the undelivered emit is kept");
    s.accept_contract(1);
    s.server_frames(1);
    // The old session's join ack must not be taken for anything of the new session.
    s.server_sends(1, r#"432[{"ok":true}]"#);
    assert!(s.sb.hub(1).is_some_and(|h| h.server_rooms().is_empty()), "no room joined by a stale ack");
    assert!(s.server_frames(1).iter().all(|f| !f.contains("sb:leave")), "nothing to leave");
    assert!(s.logs.last().is_some_and(|l| l.contains("matches no pending request")), "{:?}", s.logs.last());
}

#[test]
fn a_reauthentication_with_no_tabs_leaves_the_hub_idle() {
    let mut s = Sim::new();
    s.auth_server = true;
    s.hello(1, "http://a:1");
    answer(&mut s, "/auth/session", 401, "");
    answer(&mut s, "/auth/refresh", 401, r#"{"error":"no refresh token"}"#);
    s.accept(1);
    s.send(1, ToHub::Login { req: 1, username: "alice".into(), password: "pw".into() });
    // The tab leaves while the login is in the air; the answer asks for a new handshake.
    s.send(1, ToHub::Bye);
    answer(&mut s, "/auth/login", 200, r#"{"user":"alice","expires_at":1700000600000}"#);
    assert_eq!(s.closes.len(), 1, "the old socket is closed");
    let opens = s.opens.len();
    // Not connected: a new tab must get a new socket, not a status for a closed one.
    s.hello(2, "http://a:1");
    assert_eq!(s.opens.len(), opens + 1, "the hub opens a socket for the new tab");
    assert_eq!(s.last_status(2), Some(Status::Connecting));
}

/// Socket.IO's own connection state recovery (a Node server with `connectionStateRecovery`):
/// the hub keeps the session id and the last offset, sends both with its next CONNECT, and
/// tells the tabs whether the server restored the session; handlers get the offset as their
/// last argument, as with socket.io-client.
#[test]
fn socket_io_connection_state_recovery_resumes_where_the_hub_left_off() {
    let mut s = Sim::new();
    s.send(
        1,
        ToHub::Hello {
            version: PROTOCOL_VERSION,
            tab: "t".into(),
            endpoint: endpoint("http://a:1"),
            auth: Some(r#"{"token":"x"}"#.into()),
            options: Options::default(),
        },
    );
    s.send(1, ToHub::Subscribe { event: "tick".into() });
    let conn = s.sockets[&1];
    s.sb.handle_socket_open(1, conn, s.now);
    s.server_sends(1, HANDSHAKE);
    assert_eq!(s.server_frames(1).last().map(String::as_str), Some(r#"40{"token":"x"}"#));
    s.server_sends(1, r#"40{"sid":"s1","pid":"P"}"#);
    s.server_sends(1, r#"42["tick",0,"off-0"]"#);
    s.server_sends(1, r#"42["tick",1,"off-1"]"#);
    assert_eq!(events(&s.take_inbox(1)).last().map(|e| e.2.clone()), Some(r#"[1,"off-1"]"#.into()));
    s.drop_socket(1);
    s.advance(10_000);
    let conn = s.sockets[&1];
    s.sb.handle_socket_open(1, conn, s.now);
    s.server_sends(1, HANDSHAKE);
    let connect = s.server_frames(1).into_iter().find(|f| f.starts_with("40")).expect("a CONNECT");
    assert_eq!(connect, r#"40{"pid":"P","offset":"off-1","token":"x"}"#);
    s.server_sends(1, r#"40{"sid":"s2","pid":"P"}"#);
    assert!(s.take_inbox(1).contains(&FromHub::Recovered { recovered: true }));
    // Too late for the server: a new session, and the tabs know events may be missing.
    s.server_sends(1, r#"42["tick",2,"off-2"]"#);
    s.drop_socket(1);
    s.advance(10_000);
    let conn = s.sockets[&1];
    s.sb.handle_socket_open(1, conn, s.now);
    s.server_sends(1, HANDSHAKE);
    s.server_sends(1, r#"40{"sid":"s3","pid":"Q"}"#);
    assert!(s.take_inbox(1).contains(&FromHub::Recovered { recovered: false }));
}

fn hello_nsp(s: &mut Sim, tab: TabKey, nsp: &str) {
    let endpoint = Endpoint { namespace: nsp.into(), ..endpoint("http://a:1") };
    s.send(
        tab,
        ToHub::Hello {
            version: PROTOCOL_VERSION,
            tab: format!("tab-{tab}"),
            endpoint,
            auth: None,
            options: Options::default(),
        },
    );
}

/// Namespaces of one server share one WebSocket, as socket.io-client's Manager shares one
/// Engine.IO connection: each has its own CONNECT, events, acks and rooms, and a namespace
/// the server refuses leaves the others working.
#[test]
fn namespaces_of_one_server_share_one_socket() {
    let mut s = Sim::new();
    hello_nsp(&mut s, 1, "/chat");
    hello_nsp(&mut s, 2, "/news");
    hello_nsp(&mut s, 3, "/chat");
    assert_eq!(s.opens.len(), 1, "one WebSocket for two namespaces");
    assert_eq!(s.sb.hub_count(), 1);
    for tab in 1..=3 {
        s.send(tab, ToHub::Subscribe { event: "m".into() });
    }
    let conn = s.sockets[&1];
    s.sb.handle_socket_open(1, conn, s.now);
    s.server_sends(1, HANDSHAKE);
    let connects: Vec<String> = s.server_frames(1).into_iter().filter(|f| f.starts_with("40")).collect();
    assert_eq!(connects, ["40/chat,", "40/news,"], "a CONNECT per namespace");
    s.server_sends(1, r#"40/chat,{"sid":"c"}"#);
    s.server_sends(1, r#"40/news,{"sid":"n"}"#);
    s.advance(HELLO_WAIT_MS);
    assert_eq!(s.last_status(1), Some(Status::Connected { sid: "c".into() }));
    assert_eq!(s.last_status(2), Some(Status::Connected { sid: "n".into() }));
    // Events go to the tabs of their namespace only.
    s.server_sends(1, r#"42/news,["m",1]"#);
    assert!(events(&s.take_inbox(1)).is_empty() && events(&s.take_inbox(3)).is_empty());
    assert_eq!(events(&s.take_inbox(2)).len(), 1);
    // Ack ids are per namespace: both start at 0 and each ack reaches its own tab.
    s.server_frames(1);
    s.send(1, emit("q", "[1]", Some((5, 0))));
    s.send(2, emit("q", "[2]", Some((6, 0))));
    assert_eq!(emits(&s.server_frames(1)), [r#"42/chat,0["q",1]"#, r#"42/news,0["q",2]"#]);
    s.server_sends(1, r#"43/news,0["for news"]"#);
    assert!(s.take_inbox(2).iter().any(|m| matches!(m, FromHub::Ack { id: 6, .. })));
    assert!(!s.take_inbox(1).iter().any(|m| matches!(m, FromHub::Ack { .. })));
    // The server refuses /news from now on: only its tab hears of it.
    s.server_sends(1, r#"44/news,{"message":"not allowed"}"#);
    assert_eq!(s.last_status(2), Some(Status::Disconnected { reason: "connect_error: not allowed".into() }));
    assert!(!s.take_inbox(1).iter().any(|m| matches!(m, FromHub::Status(_))), "/chat is not affected");
    assert!(s.closes.is_empty(), "the connection stays for /chat");
    s.server_sends(1, r#"42/chat,["m",2]"#);
    assert_eq!(events(&s.take_inbox(3)).len(), 1);
    // The /news tab leaves: nothing to do there (already refused). Another namespace whose
    // last tab leaves says DISCONNECT, while /chat keeps the connection.
    hello_nsp(&mut s, 4, "/other");
    s.server_sends(1, r#"40/other,{"sid":"o"}"#);
    s.server_frames(1);
    s.send(4, ToHub::Bye);
    assert_eq!(s.server_frames(1), ["41/other,"], "the unused namespace is left on the server");
    assert!(s.closes.is_empty());
    // A DISCONNECT of /chat too: nothing is left on the connection, so it closes.
    s.server_sends(1, r#"41/chat,"#);
    assert_eq!(s.closes.len(), 1);
    assert_eq!(s.last_status(1), Some(Status::Disconnected { reason: "io server disconnect".into() }));
}

/// A malformed recovery never sticks: a pid that is not a string and a CONNECT reply without
/// a sid are logged, and the hub is connected without recovery.
#[test]
fn a_malformed_recovery_leaves_the_hub_connected_without_it() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.send(1, ToHub::Subscribe { event: "tick".into() });
    let conn = s.sockets[&1];
    s.sb.handle_socket_open(1, conn, s.now);
    s.server_sends(1, HANDSHAKE);
    s.server_sends(1, r#"40{"pid":7}"#);
    assert_eq!(s.last_status(1), Some(Status::Connected { sid: String::new() }));
    assert!(s.logs.iter().any(|l| l.contains("without a sid")) && s.logs.iter().any(|l| l.contains("not a string")));
    s.server_sends(1, r#"42["tick",1,"off"]"#);
    s.drop_socket(1);
    s.advance(10_000);
    let conn = s.sockets[&1];
    s.sb.handle_socket_open(1, conn, s.now);
    s.server_sends(1, HANDSHAKE);
    assert!(s.server_frames(1).contains(&"40".to_string()), "no pid: the CONNECT asks for no recovery");
    s.server_sends(1, r#"40{"sid":"s2"}"#);
    assert_eq!(s.last_status(1), Some(Status::Connected { sid: "s2".into() }));
    // A reconnection to a server that replays nothing: the tabs are told nothing was recovered.
    let inbox = s.take_inbox(1);
    assert_eq!(inbox.iter().filter(|m| matches!(m, FromHub::Recovered { .. })).count(), 1, "{inbox:?}");
    assert!(inbox.contains(&FromHub::Recovered { recovered: false }));
}

/// The hub's own events: `sb:ping` for each Engine.IO ping and `sb:lost [reason]` before the
/// status changes, to the tabs that subscribe (not to catch-all subscribers).
#[test]
fn tabs_may_follow_pings_and_learn_why_the_connection_was_lost() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.hello(2, "http://a:1");
    for event in [contract::HUB_PING, contract::HUB_LOST] {
        s.send(1, ToHub::Subscribe { event: event.into() });
    }
    s.send(2, ToHub::Subscribe { event: contract::ANY_EVENT.into() });
    s.accept(1);
    s.take_inbox(1);
    s.server_sends(1, "2");
    assert_eq!(events(&s.take_inbox(1)), [(contract::HUB_PING.into(), None, "[]".into())]);
    assert!(events(&s.take_inbox(2)).is_empty(), "catch-all subscribers see the server's events only");
    s.advance(45_000);
    let inbox = s.take_inbox(1);
    let lost = inbox.iter().position(|m| matches!(m, FromHub::Event { event, args, .. } if event == contract::HUB_LOST && args == r#"["ping timeout"]"#));
    let status = inbox.iter().position(|m| matches!(m, FromHub::Status(Status::Reconnecting { .. })));
    assert!(lost.is_some() && lost < status, "the reason comes first: {inbox:?}");
}

/// Without a server that takes part, the hub elects a leader among a namespace's tabs: the
/// first tab at once, a focused tab after the hysteresis, a new leader at once when the
/// leader leaves; every tab hears each change with its term.
#[test]
fn the_hub_elects_a_leader_among_its_tabs_by_page_lifecycle_priority() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    assert!(leaders(&s.take_inbox(1)).is_empty(), "a candidate from its first report");
    s.send(1, ToHub::Priority { level: 1, scope: 0, term: 0 });
    assert_eq!(leaders(&s.take_inbox(1)), [r#"["tab-1",1,"browser"]"#]);
    s.hello(2, "http://a:1");
    s.send(2, ToHub::Priority { level: 1, scope: 0, term: 0 });
    assert_eq!(leaders(&s.take_inbox(2)), [r#"["tab-1",1,"browser"]"#], "a new tab learns the leader");
    s.send(2, ToHub::Priority { level: 3, scope: 0, term: 0 });
    s.advance(499);
    assert!(leaders(&s.take_inbox(1)).is_empty(), "not before the hysteresis");
    s.advance(1);
    assert_eq!(leaders(&s.take_inbox(1)), [r#"["tab-2",2,"browser"]"#]);
    assert_eq!(leaders(&s.take_inbox(2)), [r#"["tab-2",2,"browser"]"#]);
    s.send(2, ToHub::Bye);
    assert_eq!(leaders(&s.take_inbox(1)), [r#"["tab-1",3,"browser"]"#], "the leader left: replaced at once");
}

/// A hub that restarted starts with no terms: the tabs report the highest term they were
/// told, and its terms continue above it (a tab never sees its leader's term fall).
#[test]
fn a_new_hubs_terms_continue_above_the_terms_its_tabs_were_told() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.send(1, ToHub::Priority { level: 3, scope: 0, term: 74 });
    assert_eq!(leaders(&s.take_inbox(1)), [r#"["tab-1",75,"browser"]"#]);
    s.hello(2, "http://a:1");
    s.send(2, ToHub::Priority { level: 1, scope: 0, term: 80 });
    assert_eq!(leaders(&s.take_inbox(2)), [r#"["tab-1",81,"browser"]"#], "fenced above 80, same holder");
    assert_eq!(leaders(&s.take_inbox(1)), [r#"["tab-1",81,"browser"]"#]);
}

/// Frames of one contract event (`42[...]` or `42<id>[...]` starting with `"event"`).
fn frames_of(frames: &[String], event: &str) -> Vec<String> {
    let name = format!("[\"{event}\"");
    frames.iter().filter(|f| f.starts_with("42") && f.contains(&name)).cloned().collect()
}

fn lead(term: u64, event: &str, args: &str, id: u32) -> ToHub {
    let args = format!(
        "[{term},\"{event}\"{}",
        args.strip_prefix('[').map(|r| if r == "]" { "]".to_string() } else { format!(",{r}") }).unwrap_or_default()
    );
    ToHub::Emit {
        seq: 0,
        event: contract::LEAD.into(),
        args,
        bins: vec![],
        ack: Some(AckRequest { id, timeout_ms: 0 }),
        volatile: false,
    }
}

/// A server that takes part decides: the hub reports its tabs' priorities, follows
/// LEADER_ELECTED (a term below one it saw is not followed, and it reports again so the
/// server moves on), renews its leader's lease at a third of it, passes emitAsLeader as
/// `sb:lead` with the claim (refusing a tab that does not lead or names a stale term at
/// once), and resigns a leader tab that leaves.
#[test]
fn a_server_that_takes_part_decides_the_leader_and_fences_leader_commands() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.hello(2, "http://a:1");
    s.send(1, ToHub::Priority { level: 1, scope: 0, term: 0 });
    s.send(2, ToHub::Priority { level: 3, scope: 0, term: 0 });
    s.accept_contract(1);
    let frames = s.server_frames(1);
    let reports = frames_of(&frames, contract::PRIORITY);
    assert_eq!(
        reports.last().map(String::as_str),
        Some(
            r#"42["sb:priority",{"scope":"browser","term":1,"tabs":[{"tab":"tab-1","level":1},{"tab":"tab-2","level":3}]}]"#
        ),
        "the hub reports every tab and the highest term it saw"
    );
    s.take_inbox(1);
    s.take_inbox(2);
    s.server_sends(1, r#"42["LEADER_ELECTED",{"scope":"browser","leader":"tab-2","term":5,"leaseMs":9000}]"#);
    assert_eq!(leaders(&s.take_inbox(1)), [r#"["tab-2",5,"browser"]"#]);
    assert_eq!(leaders(&s.take_inbox(2)), [r#"["tab-2",5,"browser"]"#]);
    s.advance(3_000);
    assert_eq!(
        frames_of(&s.server_frames(1), contract::RENEW),
        [r#"42["sb:renew",{"scope":"browser","term":5,"tab":"tab-2"}]"#]
    );
    s.server_sends(1, r#"42["LEADER_HEARTBEAT",{"scope":"browser","leader":"tab-2","term":5,"leaseMs":9000}]"#);
    assert!(leaders(&s.take_inbox(1)).is_empty(), "a heartbeat is no change");

    // Leader commands: only the leader, only in its term; the server's receipt settles it.
    s.send(1, lead(5, "record", "[1]", 7));
    assert!(acked(&s.take_inbox(1))[0].1.contains("does not lead"));
    s.send(2, lead(4, "record", "[1]", 8));
    assert!(acked(&s.take_inbox(2))[0].1.contains("stale term 4"));
    let mut with_binary = lead(5, "record", r#"[{"_placeholder":true,"num":0}]"#, 10);
    if let ToHub::Emit { bins, .. } = &mut with_binary {
        bins.push(Bytes(vec![1, 2]));
    }
    s.send(2, with_binary);
    assert!(acked(&s.take_inbox(2))[0].1.contains("JSON arguments only"));
    s.send(2, lead(5, "record", "[1]", 9));
    let sent = frames_of(&s.server_frames(1), contract::LEAD);
    let (id, body) = sent[0][2..].split_once('[').unwrap();
    assert_eq!(body, r#""sb:lead",{"scope":"browser","term":5,"tab":"tab-2"},"record",1]"#);
    s.server_sends(1, &format!(r#"43{id}[{{"error":"stale term 5 (the current term is 6)"}}]"#));
    assert_eq!(acked(&s.take_inbox(2)), [(9, "failed: stale term 5 (the current term is 6)".to_string())]);

    // An older term is not followed; the hub reports so the server moves past it.
    s.server_sends(1, r#"42["LEADER_ELECTED",{"scope":"browser","leader":"tab-1","term":3,"leaseMs":9000}]"#);
    assert!(leaders(&s.take_inbox(1)).is_empty());
    assert_eq!(frames_of(&s.server_frames(1), contract::PRIORITY).len(), 1);
    // Bad election messages are logged and dropped.
    for bad in [
        r#"42["LEADER_ELECTED",{"scope":"galaxy","leader":"tab-1","term":9}]"#,
        r#"42["LEADER_ELECTED",{"scope":"browser","leader":"tab-1","term":-9}]"#,
        r#"42["LEADER_ELECTED",{"scope":"browser","leader":7,"term":9}]"#,
        r#"42["LEADER_ELECTED","x"]"#,
        r#"42["ELECTION_REQUEST",{"scope":1}]"#,
    ] {
        s.server_sends(1, bad);
        assert!(leaders(&s.take_inbox(1)).is_empty(), "{bad}");
    }
    s.server_sends(1, r#"42["ELECTION_REQUEST",{"scope":"browser"}]"#);
    assert_eq!(frames_of(&s.server_frames(1), contract::PRIORITY).len(), 1, "a request is answered at once");

    // The leader tab leaves: it resigns, and the report no longer has it.
    s.send(2, ToHub::Bye);
    let frames = s.server_frames(1);
    assert_eq!(frames_of(&frames, contract::RESIGN), [r#"42["sb:resign",{"scope":"browser","term":5,"tab":"tab-2"}]"#]);
    assert!(frames_of(&frames, contract::PRIORITY)[0].contains(r#""tabs":[{"tab":"tab-1","level":1}]"#));
}

/// The server's word stands for its lease: unrenewed (the server went quiet, or the
/// connection is down), the hub elects among its own tabs under a higher term, scope
/// `browser`; a tab choosing scope `user` is reported in that scope.
#[test]
fn when_the_servers_lease_runs_out_the_hub_elects_on_its_own_above_the_servers_term() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.hello(2, "http://a:1");
    s.send(1, ToHub::Priority { level: 2, scope: 1, term: 0 });
    s.send(2, ToHub::Priority { level: 3, scope: 1, term: 0 });
    s.accept_contract(1);
    let reports = frames_of(&s.server_frames(1), contract::PRIORITY);
    assert!(reports.iter().any(|r| r.contains(r#"{"scope":"user","#) && r.contains("tab-2")), "{reports:?}");
    s.server_sends(
        1,
        r#"42["LEADER_ELECTED",{"scope":"user","leader":"tab-on-another-device","term":12,"leaseMs":6000}]"#,
    );
    assert_eq!(leaders(&s.take_inbox(1)).last().map(String::as_str), Some(r#"["tab-on-another-device",12,"user"]"#));
    s.drop_socket(1);
    s.take_inbox(1);
    s.advance(6_999);
    assert!(leaders(&s.take_inbox(1)).is_empty(), "the lease and a grace of ELECTION_WAIT_MS");
    s.advance(1);
    assert_eq!(leaders(&s.take_inbox(1)), [r#"["tab-2",13,"browser"]"#]);
}

/// Presence: the hub tells a contract server which of its tabs are in each room it holds,
/// once per change; `sb:members` reaches the room's tabs (subscribed or not) and no other;
/// `sb:rooms` (the assigned hierarchy rooms) reaches every tab with its own `tab:{id}`.
#[test]
fn presence_follows_the_rooms_tabs_and_members_reach_the_room() {
    let mut s = Sim::new();
    for tab in 1..=3 {
        s.hello(tab, "http://a:1");
    }
    s.accept_contract(1);
    s.send(1, ToHub::Join { req: 1, room: "r".into() });
    let (id, _) = s
        .server_frames(1)
        .iter()
        .find_map(|f| {
            f.strip_prefix("42")
                .and_then(|f| f.split_once(r#"["sb:join""#))
                .map(|(id, r)| (id.to_string(), r.to_string()))
        })
        .unwrap();
    s.server_sends(1, &format!(r#"43{id}[{{"ok":true}}]"#));
    assert_eq!(
        frames_of(&s.server_frames(1), contract::PRESENCE),
        [r#"42["sb:presence",{"room":"r","tabs":["tab-1"]}]"#]
    );
    s.send(2, ToHub::Join { req: 1, room: "r".into() });
    assert_eq!(
        frames_of(&s.server_frames(1), contract::PRESENCE),
        [r#"42["sb:presence",{"room":"r","tabs":["tab-1","tab-2"]}]"#]
    );
    s.send(2, ToHub::Join { req: 2, room: "r".into() });
    assert!(frames_of(&s.server_frames(1), contract::PRESENCE).is_empty(), "no change, nothing told");
    for tab in 1..=3 {
        s.take_inbox(tab);
    }
    s.server_sends(1, r#"42["sb:room","r","sb:members",{"room":"r","members":[{"user":"alice","device":"d1","tabs":["tab-1","tab-2"]}]}]"#);
    for tab in [1, 2] {
        assert_eq!(events(&s.take_inbox(tab)).len(), 1, "tab {tab} is in the room");
    }
    assert!(events(&s.take_inbox(3)).is_empty(), "tab 3 is not");
    s.send(1, ToHub::Bye);
    assert_eq!(
        frames_of(&s.server_frames(1), contract::PRESENCE),
        [r#"42["sb:presence",{"room":"r","tabs":["tab-2"]}]"#]
    );
    s.server_sends(1, r#"42["sb:rooms",["user:alice","device:d1","sneaky"]]"#);
    let told = events(&s.take_inbox(3));
    assert_eq!(told, [("sb:rooms".into(), None, r#"[["user:alice","device:d1","tab:tab-3"]]"#.into())]);
    s.hello(4, "http://a:1");
    assert!(events(&s.take_inbox(4)).iter().any(|e| e.2.contains("tab:tab-4")), "a new tab hears them");
}

/// `to(room)`: a durable emit to the other members of a room. Room-mates on the hub get it
/// at once; the server gets it in the durable envelope (`sb:to`) to send on; a tab outside
/// the room, or a plain server, is refused.
#[test]
fn an_emit_to_a_room_reaches_its_other_members() {
    let mut s = Sim::new();
    for tab in 1..=3 {
        s.hello(tab, "http://a:1");
        s.send(tab, ToHub::Subscribe { event: "note".into() });
    }
    s.accept_contract(1);
    for tab in [1, 2] {
        s.send(tab, ToHub::Join { req: 1, room: "r".into() });
    }
    s.server_sends(1, r#"432[{"ok":true}]"#);
    s.server_frames(1);
    for tab in 1..=3 {
        s.take_inbox(tab);
    }
    let to = |seq: u32, args: &str| ToHub::EmitTo {
        seq,
        room: "r".into(),
        event: "note".into(),
        args: args.into(),
        bins: vec![],
    };
    s.send(1, to(0, "[1]"));
    assert_eq!(events(&s.take_inbox(2)), [("note".into(), Some("r".into()), "[1]".into())]);
    assert!(
        events(&s.take_inbox(1)).is_empty() && events(&s.take_inbox(3)).is_empty(),
        "not the sender, not outsiders"
    );
    let frames = emits(&s.server_frames(1));
    assert!(frames[0].ends_with(r#"["sb:emit","tab-1-0","sb:to","r","note",1]"#), "{frames:?}");
    s.send(3, to(0, "[2]"));
    assert!(
        matches!(&s.take_inbox(3)[..], [FromHub::Refused { seq: 0, reason }] if reason.contains("not in that room"))
    );
    // Against a plain server there is no one to send it on.
    let mut p = Sim::new();
    p.hello(1, "http://a:1");
    p.accept(1);
    p.send(1, ToHub::Join { req: 1, room: "r".into() });
    p.take_inbox(1);
    p.send(1, to(0, "[3]"));
    let inbox = p.take_inbox(1);
    assert!(
        inbox.iter().any(|m| matches!(m, FromHub::Refused { reason, .. } if reason.contains("Switchboard contract"))),
        "{inbox:?}"
    );
}

// --- Shared state -------------------------------------------------------------------------

fn set(key: &str, value: Option<&str>, id: u32) -> ToHub {
    let args = match value {
        Some(v) => format!("[\"{key}\",{v}]"),
        None => format!("[\"{key}\"]"),
    };
    ToHub::Emit {
        seq: 0,
        event: contract::STATE_SET.into(),
        args,
        bins: vec![],
        ack: Some(AckRequest { id, timeout_ms: 0 }),
        volatile: false,
    }
}

fn state_events(msgs: &[FromHub]) -> Vec<String> {
    msgs.iter()
        .filter_map(|m| match m {
            FromHub::Event { event, args, .. } if event == contract::STATE => Some(args.clone()),
            _ => None,
        })
        .collect()
}

fn acked(msgs: &[FromHub]) -> Vec<(u32, String)> {
    msgs.iter()
        .filter_map(|m| match m {
            FromHub::Ack { id, args, .. } => Some((*id, args.clone())),
            FromHub::AckFailed { id, reason } => Some((*id, format!("failed: {reason}"))),
            _ => None,
        })
        .collect()
}

/// A write made offline is queued durably with the context its hub last saw; once the
/// contract server is there it goes as `sb:emit id sb:set key ctx value`; the server's
/// STATE_UPDATE naming it answers the tab with the settled entry and reaches every tab that
/// takes part; an update the hub's version dominates changes nothing.
#[test]
fn a_state_write_goes_through_the_durable_queue_and_settles_on_the_servers_word() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.hello(2, "http://a:1");
    s.send(2, ToHub::Subscribe { event: contract::STATE.into() });
    assert_eq!(state_events(&s.take_inbox(2)), ["[[],true]"], "the snapshot at once");
    s.send(1, set("draft", Some(r#"{"text":"hi"}"#), 7));
    assert_eq!(s.persisted_keys().len(), 1, "stored like a durable emit");
    s.accept_contract(1);
    let frames = s.server_frames(1);
    let write = frames.iter().find(|f| f.contains(r#""sb:set""#)).expect("the write went out").clone();
    assert!(write.ends_with(r#"["sb:emit","tab-1-0","sb:set","draft",{},{"text":"hi"}]"#), "{write}");
    assert!(frames.iter().any(|f| f.ends_with(r#"["sb:state"]"#)), "the hub asks for the scope's state: {frames:?}");
    s.server_sends(
        1,
        r#"42["STATE_UPDATE",{"key":"draft","value":{"text":"hi"},"version":{"n1":1},"mutation":"tab-1-0"}]"#,
    );
    assert_eq!(acked(&s.take_inbox(1)), [(7, r#"[["draft",{"text":"hi"},{"n1":1},null,false]]"#.to_string())]);
    assert_eq!(state_events(&s.take_inbox(2)), [r#"[[["draft",{"text":"hi"},{"n1":1},null,false]]]"#]);
    // A replay or older news: nothing.
    s.server_sends(1, r#"42["STATE_UPDATE",{"key":"draft","value":{"text":"old"},"version":{"n1":1}}]"#);
    assert!(state_events(&s.take_inbox(2)).is_empty());
    // The next write carries what the hub has seen; a concurrent loss is reported.
    s.send(2, set("draft", Some(r#""two""#), 3));
    assert!(s.server_frames(1).iter().any(|f| f.ends_with(r#""sb:set","draft",{"n1":1},"two"]"#)));
    s.server_sends(1, r#"42["STATE_UPDATE",{"key":"draft","value":"two","version":{"n1":3},"conflict":"three","mutation":"tab-2-0"}]"#);
    assert_eq!(acked(&s.take_inbox(2)), [(3, r#"[["draft","two",{"n1":3},"three",false]]"#.to_string())]);
    // A delete, and a new tab gets the snapshot without the server.
    s.send(1, set("draft", None, 8));
    assert!(s.server_frames(1).iter().any(|f| f.ends_with(r#""sb:set","draft",{"n1":3}]"#)));
    s.server_sends(
        1,
        r#"42["STATE_UPDATE",{"key":"draft","value":null,"deleted":true,"version":{"n1":4},"mutation":"tab-1-1"}]"#,
    );
    s.hello(3, "http://a:1");
    s.send(3, ToHub::Subscribe { event: contract::STATE.into() });
    assert_eq!(state_events(&s.take_inbox(3)), [r#"[[["draft",null,{"n1":4},null,true]],true]"#]);
}

/// Bad writes and bad updates get error values; against a plain server a write fails at
/// once (or, queued before the server's kind was known, when it is learnt).
#[test]
fn bad_state_input_is_an_error_and_a_plain_server_fails_writes_clearly() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.send(1, set("queued", Some("1"), 1));
    s.send(1, set("", Some("1"), 2));
    let big = format!("\"{}\"", "x".repeat(contract::MAX_STATE_VALUE));
    s.send(1, set("big", Some(&big), 3));
    let got = acked(&s.take_inbox(1));
    assert!(got.iter().any(|(id, r)| *id == 2 && r.contains("1..256 bytes")), "{got:?}");
    assert!(got.iter().any(|(id, r)| *id == 3 && r.contains("over 64 KB")), "{got:?}");
    s.accept(1);
    let got = acked(&s.take_inbox(1));
    assert!(got.iter().any(|(id, r)| *id == 1 && r.contains("needs a server that speaks")), "{got:?}");
    s.send(1, set("later", Some("1"), 4));
    assert!(acked(&s.take_inbox(1))[0].1.contains("needs a server that speaks"));
    assert!(s.server_frames(1).iter().all(|f| !f.contains("sb:set")), "nothing sent to the plain server");
    for bad in [
        r#"42["STATE_UPDATE","nonsense"]"#,
        r#"42["STATE_UPDATE",{"key":"k","value":1}]"#,
        r#"42["STATE_UPDATE",{"key":"k","value":1,"version":{"n1":"x"}}]"#,
        r#"42["STATE_UPDATE",{"value":1,"version":{}}]"#,
    ] {
        s.server_sends(1, bad);
    }
    s.send(1, ToHub::Subscribe { event: contract::STATE.into() });
    assert_eq!(state_events(&s.take_inbox(1)), ["[[],true]"], "nothing bad was kept");
}

/// The snapshot lives in storage beside the queue: a new worker reads it, so a tab reads
/// the state offline after a reload; a queued write is restored and sent once online;
/// signing out drops the stored copy.
#[test]
fn the_state_snapshot_and_queued_writes_survive_a_new_worker() {
    let mut first = Sim::new();
    first.hello(1, "http://a:1");
    first.accept_contract(1);
    first.server_sends(1, r#"42["STATE_UPDATE",{"key":"cart","value":{"items":2},"version":{"n1":5}}]"#);
    first.drop_socket(1);
    first.send(1, set("cart", Some(r#"{"items":3}"#), 4));
    let records: Vec<(u64, Vec<u8>)> = first.store.clone().into_iter().collect();
    assert_eq!(records.len(), 2, "the snapshot entry and the queued write");

    let mut s = Sim::new();
    s.sb.handle_restore(records, s.now);
    s.pump();
    s.hello(1, "http://a:1");
    s.send(1, ToHub::Subscribe { event: contract::STATE.into() });
    assert_eq!(
        state_events(&s.take_inbox(1)),
        [r#"[[["cart",{"items":2},{"n1":5},null,false]],true]"#],
        "offline, from storage"
    );
    s.accept_contract(1);
    let frames = s.server_frames(1);
    assert!(
        frames.iter().any(|f| f.contains(r#""sb:set","cart",{"n1":5},{"items":3}]"#)),
        "the restored write, with its context: {frames:?}"
    );
}

/// Signing out drops the local copy of the shared state (memory and storage); the tabs
/// that take part get an empty snapshot.
#[test]
fn signing_out_drops_the_local_copy_of_the_state() {
    let mut s = Sim::new();
    s.auth_server = true;
    s.hello(1, "http://a:1");
    s.send(1, ToHub::Subscribe { event: contract::STATE.into() });
    answer(&mut s, "/auth/session", 200, r#"{"user":"alice","expires_at":1700000600000}"#);
    s.accept_contract(1);
    s.server_sends(1, r#"42["STATE_UPDATE",{"key":"cart","value":[1],"version":{"n1":1}}]"#);
    assert_eq!(s.persisted_keys().len(), 1);
    s.take_inbox(1);
    s.server_sends(1, r#"42["TOKEN_INVALIDATED",{"reason":"logout"}]"#);
    assert_eq!(state_events(&s.take_inbox(1)), ["[[],true]"]);
    assert!(s.persisted_keys().is_empty(), "the stored snapshot is gone");
}

/// No password or token reaches a log line: a bearer-mode sign-in, a refresh, a token on
/// the socket, bad frames that carry tokens, and a sign-out are all logged without them.
#[test]
fn no_password_or_token_is_ever_logged() {
    let mut s = Sim::new();
    s.auth_server = true;
    s.hello_with(1, "tab-1", "http://a:1", Options { bearer: true, ..Options::default() });
    answer(&mut s, "/auth/session", 401, "");
    answer(&mut s, "/auth/refresh", 401, r#"{"error":"no refresh token"}"#);
    s.send(1, ToHub::Login { req: 1, username: "alice".into(), password: "PASSWORD-xyzzy".into() });
    answer(&mut s, "/auth/login", 200, r#"{"user":"alice","expires_at":1700000600000,"access_token":"TOKEN-aaa"}"#);
    // The handshake carries the token (bearer mode), so the socket is opened by hand.
    let conn = s.sockets[&1];
    s.sb.handle_socket_open(1, conn, s.now);
    s.server_sends(1, HANDSHAKE);
    s.server_sends(1, r#"40{"sid":"s1"}"#);
    s.server_sends(1, r#"42["sb:hello",{"v":1}]"#);
    s.send(1, ToHub::Refresh { req: 2 });
    answer(&mut s, "/auth/refresh", 200, r#"{"user":"alice","expires_at":1700000900000,"access_token":"TOKEN-bbb"}"#);
    s.send(1, ToHub::Token { req: 3 });
    for bad in
        [r#"40{"token":"TOKEN-ccc"}"#, r#"42["sb:auth",{"token":"TOKEN-ddd"}]"#, r#"43999[{"token":"TOKEN-eee"}]"#]
    {
        s.server_sends(1, bad);
    }
    s.server_sends(1, r#"42["TOKEN_INVALIDATED",{"reason":"logout"}]"#);
    let frames = s.server_frames(1).join("\n");
    assert!(frames.contains("TOKEN-"), "the token did travel (on the socket): the test saw it");
    let logs = s.logs.join("\n");
    assert!(s.logs.len() >= 3, "the bad frames were logged: {logs}");
    for secret in ["PASSWORD-xyzzy", "TOKEN-"] {
        assert!(!logs.contains(secret), "{secret} in the logs:\n{logs}");
    }
}

/// A security event reaches the tabs that listen once, however often it arrives.
#[test]
fn a_security_event_reaches_each_tab_once() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.send(1, ToHub::Subscribe { event: contract::SECURITY_SUSPICIOUS_ACTIVITY.into() });
    s.accept_contract(1);
    s.take_inbox(1);
    let e = r#"42["SECURITY_SUSPICIOUS_ACTIVITY",{"id":"ev-1","kind":"new-device","action":"none"}]"#;
    s.server_sends(1, e);
    s.server_sends(1, e);
    assert_eq!(events(&s.take_inbox(1)).len(), 1);
    s.server_sends(1, r#"42["SECURITY_SUSPICIOUS_ACTIVITY",{"id":"ev-2","kind":"failed-logins","action":"none"}]"#);
    assert_eq!(events(&s.take_inbox(1)).len(), 1);
}

/// A revoked session's unsent events are dropped (memory and storage), their tabs told; they
/// never go out later over a socket that is no longer that user's.
#[test]
fn a_revoked_sessions_unsent_events_are_dropped_from_memory_and_storage() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    for i in 0..3 {
        s.send(1, durable(i, "n", &format!("[{i}]")));
    }
    assert_eq!(s.persisted_keys().len(), 3);
    s.accept_contract(1);
    assert_eq!(emits(&s.server_frames(1)).len(), 4, "sb:time and the three, waiting for receipts");
    s.take_inbox(1);
    s.server_sends(1, r#"42["SECURITY_SESSION_REVOKED",{"id":"r1","scope":"others"}]"#);
    let refused: Vec<u32> = s
        .take_inbox(1)
        .iter()
        .filter_map(|m| {
            if let FromHub::Refused { seq, reason } = m {
                reason.contains("revoked").then_some(*seq)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(refused, [0, 1, 2]);
    assert!(s.persisted_keys().is_empty(), "gone from storage");
    s.drop_socket(1);
    s.advance(5_000);
    s.accept_contract(1);
    assert!(emits(&s.server_frames(1)).iter().all(|f| !f.contains(r#""sb:emit""#)), "nothing resent");
}

fn security_states(msgs: &[FromHub]) -> Vec<String> {
    events(msgs).into_iter().filter(|(e, _, _)| e == contract::SECURITY).map(|(_, _, args)| args).collect()
}

/// The hub's security state reaches the tabs that subscribe (the current one at once), and a
/// tab's verification request goes out over HTTP through sign-in: verification required →
/// verifying → signed in.
#[test]
fn device_verification_moves_the_security_state_every_tab_sees() {
    let mut s = Sim::new();
    s.auth_server = true;
    s.hello(1, "http://a:1");
    s.hello(2, "http://a:1");
    answer(&mut s, "/auth/session", 200, r#"{"user":"alice","session":"s1","expires_at":9999999999999}"#);
    s.send(2, ToHub::Subscribe { event: contract::SECURITY.into() });
    assert_eq!(security_states(&s.take_inbox(2)), [r#"["signed-in",null]"#]);
    s.accept_contract(1);
    s.server_sends(
        1,
        r#"42["SECURITY_DEVICE_VERIFICATION_REQUIRED",{"id":"c1","challenge":"c1","method":"email","expiresAt":5}]"#,
    );
    let states = security_states(&s.take_inbox(2));
    assert!(
        states
            .last()
            .is_some_and(|a| a
                .starts_with(r#"["verification-required",{"event":"SECURITY_DEVICE_VERIFICATION_REQUIRED","id":"c1""#)),
        "{states:?}"
    );
    s.send(1, emit(contract::SECURITY, r#"["verify","123456"]"#, Some((7, 0))));
    let call = s.http.iter().find(|c| c.3.ends_with("/auth/verify")).cloned().expect("a verify call");
    assert_eq!(call.4.as_deref(), Some(r#"{"code":"123456"}"#));
    assert!(security_states(&s.take_inbox(2)).last().is_some_and(|a| a.starts_with(r#"["verifying""#)));
    answer(&mut s, "/auth/verify", 200, r#"{"verified":true}"#);
    assert!(s
        .take_inbox(1)
        .iter()
        .any(|m| matches!(m, FromHub::Ack { id: 7, args, .. } if args == r#"[{"verified":true}]"#)));
    assert!(security_states(&s.take_inbox(2)).last().is_some_and(|a| a.starts_with(r#"["signed-in""#)));
    // A bad request is answered at once, without HTTP.
    s.send(1, emit(contract::SECURITY, r#"["erase-everything"]"#, Some((8, 0))));
    assert!(s.take_inbox(1).iter().any(|m| matches!(m, FromHub::AckFailed { id: 8, .. })));
}

/// A revocation is final for the session: every tab is signed out and hears `revoked`, the
/// hub clears the dead cookies (a logout) and reconnects without them.
#[test]
fn a_revocation_signs_every_tab_out_and_clears_the_sessions_cookies() {
    let mut s = Sim::new();
    s.auth_server = true;
    s.hello(1, "http://a:1");
    answer(&mut s, "/auth/session", 200, r#"{"user":"alice","session":"s1","expires_at":9999999999999}"#);
    s.send(1, ToHub::Subscribe { event: contract::SECURITY.into() });
    s.accept_contract(1);
    s.take_inbox(1);
    s.server_sends(1, r#"42["SECURITY_SESSION_REVOKED",{"id":"r1","scope":"all"}]"#);
    let inbox = s.take_inbox(1);
    assert_eq!(auth_of(&inbox).and_then(|a| a.signed_out), Some("session revoked".into()));
    assert!(security_states(&inbox)
        .last()
        .is_some_and(|a| a.starts_with(r#"["revoked",{"event":"SECURITY_SESSION_REVOKED""#)));
    assert_eq!(answer(&mut s, "/auth/logout", 200, r#"{"ok":true}"#), 1, "the dead cookies are cleared");
    // The same session reported again (a stale check) does not bring it back.
    s.server_sends(1, r#"42["SECURITY_DEVICE_VERIFIED",{"id":"v9"}]"#);
    assert!(security_states(&s.take_inbox(1)).last().is_some_and(|a| a.starts_with(r#"["revoked""#)));
}

/// A server that announces its limits in sb:hello gets the durable queue at its pace (four
/// fifths of its rate, half its burst), not all at once; nothing is lost on the way.
#[test]
fn the_queue_is_flushed_at_the_pace_the_server_announced() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    for i in 0..10 {
        s.send(1, durable(i, "n", &format!("[{i}]")));
    }
    s.contract.insert(1);
    s.accept(1);
    s.server_sends(1, r#"42["sb:hello",{"v":1,"limits":{"size":1000,"rate":10,"burst":4}}]"#);
    let sent = |frames: Vec<String>| frames.iter().filter(|f| f.contains(r#""sb:emit""#)).count();
    assert_eq!(sent(s.server_frames(1)), 2, "half the burst at once");
    s.advance(125);
    assert_eq!(sent(s.server_frames(1)), 1, "then eight a second");
    s.advance(1_000);
    assert_eq!(sent(s.server_frames(1)), 7, "the rest, in time");
    // And the announced size: a larger emit is refused at the tab.
    s.take_inbox(1);
    s.send(1, durable(20, "n", &format!("[\"{}\"]", "x".repeat(2000))));
    assert!(s.take_inbox(1).iter().any(|m| matches!(m, FromHub::Refused { seq: 20, .. })));
}

/// A runaway tab is limited (its messages refused, with a reason) and the others go on.
#[test]
fn a_runaway_tab_is_refused_and_the_other_tabs_go_on() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.hello(2, "http://a:1");
    s.accept(1);
    s.take_inbox(1);
    let n = contract::TAB_BURST + 500;
    for i in 0..n {
        s.send(1, emit("spam", "[1]", Some((i, 0))));
    }
    let refused = s
        .take_inbox(1)
        .iter()
        .filter(|m| matches!(m, FromHub::AckFailed { reason, .. } if reason.starts_with("rate limit")))
        .count();
    assert_eq!(refused as u32, n - contract::TAB_BURST, "the burst passes, the rest is refused");
    assert!(s.logs.iter().filter(|l| l.contains("over its rate")).count() == 1, "logged once: {:?}", s.logs.len());
    s.send(2, emit("fine", "[1]", Some((1, 0))));
    assert!(s.take_inbox(2).iter().all(|m| !matches!(m, FromHub::AckFailed { .. })), "the other tab is not limited");
    assert!(s.server_frames(1).iter().any(|f| f.contains(r#""fine""#)));
    s.advance(1_000);
    s.send(1, emit("spam", "[1]", Some((9_999, 0))));
    assert!(s.take_inbox(1).iter().all(|m| !matches!(m, FromHub::AckFailed { .. })), "a second later it may go on");
}

fn ack_json(msgs: &[FromHub], id: u32) -> serde_json::Value {
    let args = msgs
        .iter()
        .find_map(|m| match m {
            FromHub::Ack { id: i, args, .. } if *i == id => Some(args.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no ack {id} in {msgs:?}"));
    serde_json::from_str::<serde_json::Value>(&args).expect("JSON")[0].clone()
}

/// Debug mode: off, nothing is recorded; on, an emit and its ack appear in the event log with
/// the time to ack and one trace id, entries stream to subscribed tabs and log lines reach
/// their consoles; the inspector shows the tabs, rooms and queue.
#[test]
fn the_debug_log_records_an_emit_and_its_ack_and_the_inspector_shows_the_hub() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.hello(2, "http://a:1");
    s.accept_contract(1);
    s.send(1, emit("before", "[0]", Some((1, 0))));
    s.send(2, emit(contract::DEBUG, r#"["log"]"#, Some((50, 0))));
    assert_eq!(ack_json(&s.take_inbox(2), 50), serde_json::json!([]), "off: nothing recorded");
    s.send(2, ToHub::Subscribe { event: contract::DEBUG.into() });
    s.send(2, ToHub::Subscribe { event: contract::LOG.into() });
    s.send(2, emit(contract::DEBUG, r#"["on",{"capacity":100}]"#, Some((51, 0))));
    s.send(1, ToHub::Join { req: 3, room: "lobby".into() });
    let join = s.server_frames(1).into_iter().find(|f| f.contains("sb:join")).expect("a join");
    let join_id: u64 = join[2..].split('[').next().and_then(|n| n.parse().ok()).expect("an ack id");
    s.server_sends(1, &format!(r#"43{join_id}[{{"ok":true}}]"#));
    s.send(1, emit("ping", "[1]", Some((2, 0))));
    let frames = s.server_frames(1);
    let sio_id: u64 = frames
        .iter()
        .find(|f| f.contains("\"ping\""))
        .and_then(|f| f[2..].split('[').next()?.parse().ok())
        .expect("acked emit sent");
    s.advance(25);
    s.server_sends(1, &format!("43{sio_id}[\"pong\"]"));
    s.send(2, emit(contract::DEBUG, r#"["log"]"#, Some((52, 0))));
    let inbox = s.take_inbox(2);
    let log = ack_json(&inbox, 52);
    let entries = log.as_array().expect("entries");
    let sent = entries.iter().find(|e| e["event"] == "ping" && e["outcome"] == "sent").expect("the emit");
    let acked = entries.iter().find(|e| e["event"] == "ping" && e["outcome"] == "acked").expect("its ack");
    assert_eq!(
        (sent["dir"].clone(), sent["tab"].clone()),
        (serde_json::json!("tab→server"), serde_json::json!("tab-1"))
    );
    assert_eq!(acked["ackMs"], 25, "time to ack");
    assert!(sent["trace"].as_str().is_some_and(|t| t.starts_with("00-") && t.len() == 55));
    assert_eq!(sent["trace"], acked["trace"], "one trace id");
    assert!(!entries.iter().any(|e| e["event"] == "before"), "nothing from before debug mode");
    let streamed = events(&inbox);
    assert!(streamed.iter().any(|(e, _, a)| e == contract::DEBUG && a.contains("\"ping\"")), "entries stream");
    assert!(streamed.iter().any(|(e, _, _)| e == contract::LOG), "log lines reach the console");
    // The inspector.
    s.send(2, emit(contract::DEBUG, r#"["inspect"]"#, Some((53, 0))));
    let view = ack_json(&s.take_inbox(2), 53);
    let nsp = &view["namespaces"][0];
    let tabs: Vec<_> = nsp["tabs"].as_array().expect("tabs").iter().map(|t| t["id"].clone()).collect();
    assert_eq!(tabs, [serde_json::json!("tab-1"), serde_json::json!("tab-2")], "{view}");
    assert_eq!(nsp["tabs"][0]["rooms"], serde_json::json!(["lobby"]), "{view}");
    assert_eq!(nsp["rooms"][0]["room"], "lobby");
    assert_eq!(nsp["queue"]["count"], 0);
    assert_eq!(view["debug"]["on"], true);
    // A reconnection is a span: the socket back to the namespace connected.
    s.drop_socket(1);
    s.advance(5_000);
    let conn = s.sockets[&1];
    s.sb.handle_socket_open(1, conn, s.now);
    s.advance(40);
    s.server_sends(1, HANDSHAKE);
    s.server_sends(1, r#"40{"sid":"s2"}"#);
    s.send(2, emit(contract::DEBUG, r#"["log"]"#, Some((60, 0))));
    let log = ack_json(&s.take_inbox(2), 60);
    let back = log
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["outcome"] == "reconnected")
        .cloned()
        .expect("a reconnect span");
    assert_eq!(
        (back["dir"].clone(), back["ackMs"].clone()),
        (serde_json::json!("hub"), serde_json::json!(5_040)),
        "from the loss, the backoff included: {back}"
    );
    assert!(log.as_array().expect("entries").iter().any(|e| e["outcome"] == "ended"), "the drop too");
    // Off again: nothing more is recorded or streamed.
    s.send(2, emit(contract::DEBUG, r#"["off"]"#, Some((54, 0))));
    let before = ack_json(
        &{
            s.send(2, emit(contract::DEBUG, r#"["log"]"#, Some((55, 0))));
            s.take_inbox(2)
        },
        55,
    )
    .as_array()
    .map(Vec::len);
    s.send(1, emit("after", "[1]", Some((4, 0))));
    let after = ack_json(
        &{
            s.send(2, emit(contract::DEBUG, r#"["log"]"#, Some((56, 0))));
            s.take_inbox(2)
        },
        56,
    )
    .as_array()
    .map(Vec::len);
    assert_eq!(before, after);
    s.send(2, emit(contract::DEBUG, r#"["reboot"]"#, Some((57, 0))));
    assert!(
        s.take_inbox(2).iter().any(|m| matches!(m, FromHub::AckFailed { id: 57, .. })),
        "a bad request is an error"
    );
}

/// The id of the acked event `event` the server got, and the frame just before it.
fn sent_with_previous(frames: &[String], event: &str) -> (u64, String) {
    let i = frames.iter().position(|f| f.contains(&format!("[\"{event}\""))).expect("sent");
    let id = frames[i][2..].split('[').next().and_then(|n| n.parse().ok()).expect("an ack id");
    (id, frames[i - 1].clone())
}

/// Debug mode against a server that announced `trace`: every tab event is preceded by
/// `sb:trace [traceparent]` naming the debug log's trace (a durable emit's is its id's); a
/// server that did not announce it gets none; a connect span starts at the first attempt; each
/// Engine.IO ping brings an `sb:time` probe whose round trip is the inspector's ping RTT.
#[test]
fn debug_mode_announces_traces_to_a_server_that_reads_them_and_times_pings() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.send(1, emit(contract::DEBUG, r#"["on"]"#, Some((50, 0))));
    s.advance(30);
    s.contract.insert(1);
    s.accept(1);
    s.server_sends(1, r#"42["sb:hello",{"v":1,"trace":true}]"#);
    s.send(1, emit(contract::DEBUG, r#"["log"]"#, Some((51, 0))));
    let log = ack_json(&s.take_inbox(1), 51);
    let span = log.as_array().expect("entries").iter().find(|e| e["outcome"] == "connected").cloned();
    assert_eq!(span.expect("a connect span")["ackMs"], 30, "from the attempt, not the socket's open");
    s.send(1, emit("ask", "[1]", Some((2, 0))));
    s.send(1, durable(7, "record", "[2]"));
    let frames = s.server_frames(1);
    let (ask_id, before_ask) = sent_with_previous(&frames, "ask");
    let (_, before_record) = sent_with_previous(&frames, contract::EMIT);
    s.server_sends(1, &format!("43{ask_id}[\"ok\"]"));
    s.send(1, emit(contract::DEBUG, r#"["log"]"#, Some((52, 0))));
    let log = ack_json(&s.take_inbox(1), 52);
    let entries = log.as_array().expect("entries");
    let trace_of = |event: &str| {
        let e = entries.iter().find(|e| e["event"] == event).unwrap_or_else(|| panic!("{event} in {log}"));
        e["trace"].as_str().expect("a trace").to_string()
    };
    assert_eq!(before_ask, format!("42[\"sb:trace\",\"{}\"]", trace_of("ask")), "the acked emit's trace");
    assert_eq!(before_record, format!("42[\"sb:trace\",\"{}\"]", contract::traceparent("tab-1-7")));
    assert_eq!(trace_of("record"), contract::traceparent("tab-1-7"), "a durable emit's is its id's");
    // An Engine.IO ping: a probe, its round trip in the log and the inspector.
    s.server_sends(1, "2");
    let probe = s.server_frames(1).into_iter().rev().find(|f| f.contains(contract::TIME)).expect("a probe");
    let probe_id: u64 = probe[2..].split('[').next().and_then(|n| n.parse().ok()).expect("an ack id");
    s.advance(12);
    s.server_sends(1, &format!("43{probe_id}[{{\"time\":1700000000000}}]"));
    s.send(1, emit(contract::DEBUG, r#"["log"]"#, Some((53, 0))));
    let log = ack_json(&s.take_inbox(1), 53);
    let ping = log.as_array().expect("entries").iter().rev().find(|e| e["outcome"] == "ping").cloned();
    assert_eq!(ping.expect("a ping span")["ackMs"], 12, "{log}");
    s.send(1, emit(contract::DEBUG, r#"["inspect"]"#, Some((54, 0))));
    assert_eq!(ack_json(&s.take_inbox(1), 54)["namespaces"][0]["pingRtt"], 12);
    // Off: no trace, no probe.
    s.send(1, emit(contract::DEBUG, r#"["off"]"#, Some((55, 0))));
    let _ = s.server_frames(1);
    s.server_sends(1, "2");
    s.send(1, emit("quiet", "[1]", None));
    let after = s.server_frames(1);
    assert_eq!(after.len(), 2, "the pong and the event only: {after:?}");
    assert!(after.iter().all(|f| !f.contains(contract::TRACE) && !f.contains(contract::TIME)), "{after:?}");
    // A server that did not announce `trace` never hears sb:trace.
    let mut p = Sim::new();
    p.hello(1, "http://a:1");
    p.send(1, emit(contract::DEBUG, r#"["on"]"#, Some((50, 0))));
    p.accept_contract(1);
    p.send(1, emit("ask", "[1]", Some((2, 0))));
    p.send(1, durable(8, "record", "[2]"));
    assert!(p.server_frames(1).iter().all(|f| !f.contains(contract::TRACE)), "{:?}", p.server_frames(1));
}

/// "Retry now" (a status indicator's button) skips the rest of a reconnection backoff, and is
/// a no-op while connected.
#[test]
fn retry_now_skips_the_backoff() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.accept(1);
    s.send(1, emit(contract::DEBUG, r#"["retry"]"#, Some((1, 0))));
    assert_eq!(ack_json(&s.take_inbox(1), 1), serde_json::json!(false), "connected: nothing to skip");
    s.drop_socket(1);
    let opens = s.opens.len();
    assert!(matches!(s.last_status(1), Some(Status::Reconnecting { .. })));
    s.send(1, emit(contract::DEBUG, r#"["retry"]"#, Some((2, 0))));
    assert_eq!(ack_json(&s.take_inbox(1), 2), serde_json::json!(true));
    assert_eq!(s.opens.len(), opens + 1, "a new socket at once");
}

fn not_attached(msgs: &[FromHub]) -> usize {
    msgs.iter().filter(|m| matches!(m, FromHub::Error { code: ErrorCode::NotAttached, .. })).count()
}

/// A hub started again under open ports (WebKit re-runs a SharedWorker on the old ports; a
/// leader-tab failover relays old tabs to a new hub): a port it is handed is told
/// `NotAttached` once; a port that speaks without a Hello is told once too, and what it
/// sends meanwhile is dropped; after its Hello (a tab's `restart`) all is as usual.
#[test]
fn a_hub_started_under_open_ports_tells_each_tab_to_attach_again() {
    let mut s = Sim::new();
    s.sb.handle_port_opened(1);
    s.pump();
    assert_eq!(not_attached(&s.take_inbox(1)), 1, "a port handed over is told at once");
    s.send(1, emit("lost", "[1]", Some((1, 0))));
    s.send(1, ToHub::Subscribe { event: "news".into() });
    assert_eq!(not_attached(&s.take_inbox(1)), 0, "told once until its Hello");
    s.send(2, emit("early", "[1]", None));
    s.send(2, emit("early", "[2]", None));
    let inbox = s.take_inbox(2);
    assert_eq!((not_attached(&inbox), inbox.len()), (1, 1), "a port that speaks first: told once: {inbox:?}");
    assert!(s.logs.iter().any(|l| l.contains("attach again")), "logged");
    // The tab attaches again (Page::restart: Hello, subscriptions, rooms, unconfirmed emits).
    s.hello(2, "http://a:1");
    s.accept_contract(1);
    s.send(2, durable(0, "early", "[1]"));
    let inbox = s.take_inbox(2);
    assert!(inbox.iter().any(|m| matches!(m, FromHub::Welcome { .. })), "{inbox:?}");
    assert_eq!(not_attached(&inbox), 0);
    let sent = frames_of(&s.server_frames(1), contract::EMIT);
    assert_eq!(sent.len(), 1, "its resent emit goes out once: {sent:?}");
    // A second hub start under the same port: told again.
    s.sb.handle_tab_gone(2, s.now);
    s.send(2, emit("again", "[1]", None));
    assert_eq!(not_attached(&s.take_inbox(2)), 1);
}

/// A closing tab is not a hub started again: its Bye after its lock was released (it is
/// already detached), and what it still sends after its Bye, are dropped without telling it
/// to attach again and without a log line.
#[test]
fn a_closing_tab_is_not_told_to_attach_again() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.hello(2, "http://a:1");
    s.accept(1);
    s.take_inbox(1);
    s.take_inbox(2);
    let logs = s.logs.len();
    // Tab 1: Bye, then a late message (a component's unmount after pagehide).
    s.send(1, ToHub::Bye);
    s.send(1, ToHub::Unsubscribe { event: "news".into() });
    // Tab 2: its lock is released first, then its Bye arrives.
    s.sb.handle_tab_gone(2, s.now);
    s.send(2, ToHub::Bye);
    assert_eq!((not_attached(&s.take_inbox(1)), not_attached(&s.take_inbox(2))), (0, 0));
    let told: Vec<_> = s.logs[logs..].iter().filter(|l| l.contains("attach again")).collect();
    assert!(told.is_empty(), "no re-run log for a closing tab: {told:?}");
    // A tab restored from the back-forward cache attaches again on the same port.
    s.hello(1, "http://a:1");
    assert!(s.take_inbox(1).iter().any(|m| matches!(m, FromHub::Welcome { .. })));
}

/// A per-tab hub adopting the queue of one that is gone: the records get keys of this hub's
/// (above its own), are written to its storage, and go out once its socket can take them.
#[test]
fn adopted_records_get_new_keys_are_stored_and_delivered() {
    let mut gone = Sim::new();
    gone.hello(1, "http://a:1");
    for i in 0..3 {
        gone.send(1, durable(i, "n", &format!("[{i}]")));
    }
    let records: Vec<Vec<u8>> = gone.store.values().cloned().collect();
    assert_eq!(records.len(), 3);
    let mut s = Sim::new();
    s.hello_with(1, "another-tab", "http://a:1", Options::default());
    s.send(1, durable(0, "own", "[0]"));
    let own = s.persisted_keys();
    s.sb.handle_adopt(records, s.now);
    s.pump();
    let keys = s.persisted_keys();
    assert_eq!(keys.len(), 4, "written to this hub's storage: {keys:?}");
    assert!(keys.iter().filter(|k| !own.contains(k)).all(|k| *k > own[0]), "new keys above its own: {keys:?}");
    s.accept_contract(1);
    let sent = frames_of(&s.server_frames(1), contract::EMIT);
    assert_eq!(sent.len(), 4, "its own emit and the three adopted: {sent:?}");
}

/// Every failed attempt says why in the tabs' status: the HTTP answer of a refusing server
/// (its text quoted, bounded, control characters dropped), a refused origin, an unreachable
/// address, a timeout.
#[test]
fn a_failed_attempt_says_why() {
    use switchboard_shared::hub::Probe;
    let reason = |s: &Sim| match s.last_status(1) {
        Some(Status::Reconnecting { reason, .. }) => reason,
        other => panic!("not reconnecting: {other:?}"),
    };
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    let forbidden = "origin http://app.test is not allowed: start the server with --allow-origin http://app.test";
    s.fail_socket(1, Probe::Http(403, format!("{forbidden}\u{1b}[31m{}", "x".repeat(10_000))));
    let r = reason(&s);
    assert!(r.starts_with(&format!("the server refused the connection: HTTP 403: {forbidden}")), "{r}");
    assert!(r.len() < 300 && !r.contains('\u{1b}'), "bounded and without control characters: {r}");
    s.advance(10_000);
    s.fail_socket(1, Probe::Opaque);
    let r = reason(&s);
    assert!(r.contains("a:1") && r.contains("--allow-origin http://app.test"), "{r}");
    s.advance(10_000);
    s.fail_socket(1, Probe::Unreachable);
    assert_eq!(reason(&s), "cannot reach a:1 (connection refused, unknown host, or offline)");
    s.advance(10_000);
    s.fail_socket(1, Probe::Http(200, "0{}".into()));
    assert!(reason(&s).contains("refused the WebSocket upgrade"), "{}", reason(&s));
    // A socket that never answers: the attempt times out (the backoff is at most 5 s).
    s.advance(5_000);
    s.advance(20_000);
    assert_eq!(reason(&s), "connect timeout");
}

/// `reconnectionAttempts`: that many failed attempts in a row and the hub stops trying with
/// status `failed` and the last reason; a new tab starts again.
#[test]
fn reconnection_attempts_end_in_failed() {
    use switchboard_shared::hub::Probe;
    let mut s = Sim::new();
    let options = Options { reconnection_attempts: 2, randomization_factor: 0.0, ..Options::default() };
    s.hello_with(1, "a", "http://a:1", options);
    s.fail_socket(1, Probe::Unreachable);
    assert!(matches!(s.last_status(1), Some(Status::Reconnecting { attempt: 1, .. })), "{:?}", s.last_status(1));
    s.advance(1_000);
    s.fail_socket(1, Probe::Unreachable);
    assert!(matches!(s.last_status(1), Some(Status::Reconnecting { attempt: 2, .. })), "{:?}", s.last_status(1));
    s.advance(2_000);
    let opens = s.opens.len();
    s.fail_socket(1, Probe::Unreachable);
    let Some(Status::Failed { reason }) = s.last_status(1) else { panic!("{:?}", s.last_status(1)) };
    assert!(reason.starts_with("gave up after 2 reconnection attempts; the last: cannot reach a:1"), "{reason}");
    s.advance(60_000);
    assert_eq!(s.opens.len(), opens, "no attempt after giving up");
    // Unlimited by default: the same failures keep retrying.
    let mut t = Sim::new();
    t.hello(1, "http://a:1");
    for n in 1..=5 {
        t.fail_socket(1, Probe::Unreachable);
        let attempt = match t.last_status(1) {
            Some(Status::Reconnecting { attempt, .. }) => attempt,
            other => panic!("{other:?}"),
        };
        assert_eq!(attempt, n);
        t.advance(10_000);
    }
}

/// `sb:drop` (socket.io-client's `socket.io.engine.close()`): the WebSocket closes, every
/// tab sees the loss as `forced close` and the hub reconnects with backoff; nothing goes
/// to the server. With no socket (backing off) there is nothing to close.
#[test]
fn a_tab_can_close_the_engine_and_the_hub_reconnects() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.send(1, ToHub::Subscribe { event: contract::HUB_LOST.into() });
    s.accept(1);
    s.server_frames(1);
    s.send(1, emit(contract::HUB_DROP, "[]", None));
    assert_eq!(s.closes.len(), 1, "the socket closes");
    assert!(s.server_frames(1).is_empty(), "sb:drop is the hub's, not the server's");
    assert!(
        events(&s.inbox[&1]).iter().any(|(e, _, a)| e == contract::HUB_LOST && a.contains("forced close")),
        "the tab hears why"
    );
    let Some(Status::Reconnecting { attempt: 1, reason, .. }) = s.last_status(1) else {
        panic!("{:?}", s.last_status(1))
    };
    assert_eq!(reason, "forced close");
    // Backing off: no socket, a second drop changes nothing.
    s.send(1, emit(contract::HUB_DROP, "[]", None));
    assert_eq!(s.closes.len(), 1);
    let opens = s.opens.len();
    s.advance(10_000);
    assert_eq!(s.opens.len(), opens + 1, "reconnects after the backoff");
    s.accept(1);
    assert!(matches!(s.last_status(1), Some(Status::Connected { .. })));
}

/// `timeout: 0` times every attempt out at once (socket.io-client's meaning), and a hub no
/// tab uses any more takes the next tab's options: a lingering hub set up by one page does
/// not impose its timeout or attempt limit on the next.
#[test]
fn zero_timeout_and_a_free_hub_takes_the_next_tabs_options() {
    let mut s = Sim::new();
    let options = Options { timeout_ms: 0, reconnection_attempts: 1, ..Options::default() };
    s.hello_with(1, "a", "http://a:1", options);
    s.advance(0);
    let Some(Status::Reconnecting { attempt: 1, reason, .. }) = s.last_status(1) else {
        panic!("{:?}", s.last_status(1))
    };
    assert_eq!(reason, "connect timeout");
    s.advance(5_000);
    assert!(matches!(s.last_status(1), Some(Status::Failed { .. })), "{:?}", s.last_status(1));
    s.send(1, ToHub::Bye);
    // The next page: default options (20 s timeout, unlimited attempts) on the same server.
    s.hello(2, "http://a:1");
    let opened = s.opens.last().expect("a new attempt").0;
    s.advance(19_999);
    assert!(matches!(s.last_status(2), Some(Status::Connecting)), "{:?}", s.last_status(2));
    assert_eq!(s.opens.last().unwrap().0, opened, "still the first attempt: 20 s timeout");
    s.accept(1);
    assert!(matches!(s.last_status(2), Some(Status::Connected { .. })));
    // While a tab uses the hub, a second tab's options do not change it.
    s.hello_with(3, "c", "http://a:1", options);
    s.drop_socket(1);
    s.advance(60_000);
    assert!(!matches!(s.last_status(2), Some(Status::Failed { .. })), "{:?}", s.last_status(2));
}

/// An ack whose emit went out fails when the connection ends ("socket has been
/// disconnected", as socket.io-client says); one whose emit is still queued keeps waiting
/// and is answered in the next session.
#[test]
fn acks_in_flight_fail_on_disconnection_and_queued_ones_wait() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.accept(1);
    s.send(1, emit("slow", "[]", Some((7, 0))));
    s.drop_socket(1);
    let failed: Vec<_> = s
        .take_inbox(1)
        .into_iter()
        .filter_map(|m| match m {
            FromHub::AckFailed { id, reason } => Some((id, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(failed, vec![(7, contract::ACK_DISCONNECTED.to_string())]);
    // Sent while down: queued, so it waits for the next session.
    s.send(1, emit("later", "[]", Some((8, 0))));
    s.advance(10_000);
    s.accept(1);
    let frames = s.server_frames(1);
    let sent = frames.iter().find(|f| f.contains("\"later\"")).expect("sent on reconnection").clone();
    assert!(!s.take_inbox(1).iter().any(|m| matches!(m, FromHub::AckFailed { .. })), "the queued one did not fail");
    let id: String = sent[2..].chars().take_while(char::is_ascii_digit).collect();
    s.server_sends(1, &format!("43{id}[\"done\"]"));
    assert!(s.take_inbox(1).iter().any(|m| matches!(m, FromHub::Ack { id: 8, .. })), "answered");
}

/// A lingering connection opened under other options is opened again under the next
/// page's (its timeout, attempts and backoff apply from the first attempt); with the same
/// options the lingering connection is kept.
#[test]
fn a_lingering_connection_with_other_options_opens_again() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.accept(1);
    s.send(1, ToHub::Bye);
    s.hello(2, "http://a:1");
    assert_eq!((s.opens.len(), s.closes.len()), (1, 0), "same options: the lingering socket is kept");
    s.send(2, ToHub::Bye);
    let options = Options { timeout_ms: 0, ..Options::default() };
    s.hello_with(3, "c", "http://a:1", options);
    assert_eq!((s.opens.len(), s.closes.len()), (2, 1), "other options: closed and opened again");
    s.advance(0);
    let Some(Status::Reconnecting { reason, .. }) = s.last_status(3) else { panic!("{:?}", s.last_status(3)) };
    assert_eq!(reason, "connect timeout", "under the new options");
}

/// An emit with an ack (not durable) goes out as soon as the namespace is connected: it does
/// not wait the HELLO_WAIT_MS a plain server takes to be recognised as plain. A durable emit
/// waits (its envelope depends on the answer), and an ack emit behind it keeps its place.
#[test]
fn an_ack_emit_does_not_wait_for_the_contract_decision() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    let conn = s.sockets[&1];
    s.sb.handle_socket_open(1, conn, s.now);
    s.server_sends(1, HANDSHAKE);
    s.server_sends(1, r#"40{"sid":"s1"}"#);
    s.server_frames(1);
    s.send(1, emit("echo", "[1]", Some((1, 0))));
    assert_eq!(s.server_frames(1), vec![r#"420["echo",1]"#.to_string()], "sent at once");
    s.send(1, emit("plain", "[2]", None));
    s.send(1, emit("echo", "[3]", Some((2, 0))));
    assert!(s.server_frames(1).is_empty(), "the durable one waits for the decision, the next behind it");
    s.advance(HELLO_WAIT_MS);
    let frames = s.server_frames(1);
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert!(frames[0].contains("\"plain\"") && frames[1].contains("\"echo\",3"), "in order: {frames:?}");
}

/// The last tab of a namespace leaves it (DISCONNECT) while the connection lingers: a page
/// that comes back (a reload) is a new server socket, so the server's `connection` handler
/// runs for it again; a namespace with emits still to deliver stays.
#[test]
fn the_last_tab_of_a_namespace_leaves_it_while_the_connection_lingers() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.accept(1);
    s.server_frames(1);
    s.send(1, ToHub::Bye);
    assert_eq!(s.server_frames(1), ["41"], "the namespace is left");
    s.hello(2, "http://a:1");
    assert_eq!(s.server_frames(1), ["40"], "the next page connects the namespace anew, on the same socket");
    assert_eq!(s.opens.len(), 1);
}

/// `reconnectionDelayMax` below `reconnectionDelay` caps the first delay too (socket.io-client's
/// backoff: min(delay * 2^n, max)).
#[test]
fn a_delay_cap_below_the_first_delay_caps_it() {
    let mut s = Sim::new();
    let options = Options {
        reconnection_delay_ms: 1000,
        reconnection_delay_max_ms: 100,
        randomization_factor: 0.0,
        ..Options::default()
    };
    s.hello_with(1, "a", "http://a:1", options);
    s.accept(1);
    s.drop_socket(1);
    let Some(Status::Reconnecting { delay_ms, .. }) = s.last_status(1) else { panic!("{:?}", s.last_status(1)) };
    assert_eq!(delay_ms, 100);
}

/// A tab arriving at a hub no tab uses, while it backs off, starts an attempt at once (its
/// page sees `connecting`, not a reconnection it never had); a tab joining others in a
/// backoff waits with them.
#[test]
fn a_new_page_at_a_free_hub_does_not_wait_out_its_backoff() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    s.accept(1);
    s.drop_socket(1);
    s.hello(2, "http://a:1");
    assert!(matches!(s.last_status(2), Some(Status::Reconnecting { .. })), "joins the others' backoff");
    let opens = s.opens.len();
    s.send(1, ToHub::Bye);
    s.send(2, ToHub::Bye);
    s.hello(3, "http://a:1");
    assert_eq!(s.opens.len(), opens + 1, "an attempt at once");
    assert!(matches!(s.last_status(3), Some(Status::Connecting)), "{:?}", s.last_status(3));
}

/// A namespace left while its CONNECT was unanswered, then joined again: the server answers
/// the first CONNECT first; that answer (for a socket it then disconnected) is not taken
/// for the new session, whose own answer is.
#[test]
fn the_answer_to_a_connect_left_unanswered_is_not_the_next_sessions() {
    let mut s = Sim::new();
    s.hello(1, "http://a:1");
    let conn = s.sockets[&1];
    s.sb.handle_socket_open(1, conn, s.now);
    s.server_sends(1, HANDSHAKE);
    s.send(1, ToHub::Bye);
    s.hello(2, "http://a:1");
    assert_eq!(s.server_frames(1), ["40", "41", "40"]);
    s.server_sends(1, r#"40{"sid":"old"}"#);
    assert!(!matches!(s.last_status(2), Some(Status::Connected { .. })), "{:?}", s.last_status(2));
    s.server_sends(1, r#"40{"sid":"new"}"#);
    let Some(Status::Connected { sid }) = s.last_status(2) else { panic!("{:?}", s.last_status(2)) };
    assert_eq!(sid, "new");
}

/// The bootstrap's early socket came with the CONNECT it sent when the handshake arrived.
fn early_connect(s: &mut Sim, hub: HubId, frame: &str) {
    let conn = s.sockets[&hub];
    s.sb.handle_early_connect(hub, conn, frame);
    s.sb.handle_socket_open(hub, conn, s.now);
    s.pump();
}

#[test]
fn an_early_connect_that_is_the_hubs_own_is_not_sent_again() {
    let mut s = Sim::new();
    hello_nsp(&mut s, 1, "/chat");
    early_connect(&mut s, 1, "40/chat,");
    s.server_sends(1, HANDSHAKE);
    s.server_sends(1, "2");
    // Only the pong: the CONNECT on the wire is the bootstrap's.
    assert_eq!(s.server_frames(1), ["3"]);
    s.server_sends(1, r#"40/chat,{"sid":"abc"}"#);
    assert_eq!(s.last_status(1), Some(Status::Connected { sid: "abc".into() }));
    assert_eq!((s.opens.len(), s.closes.len()), (1, 0), "one socket, never closed");
}

#[test]
fn an_early_connect_that_is_not_the_hubs_own_starts_the_connection_over() {
    // Another payload, another namespace, garbage: none is what the hub would send.
    for frame in [r#"40{"token":"stale"}"#, "40/other,", "4", "", "40/chat,\u{0}"] {
        let mut s = Sim::new();
        hello_nsp(&mut s, 1, "/chat");
        early_connect(&mut s, 1, frame);
        s.server_sends(1, HANDSHAKE);
        assert_eq!((s.opens.len(), s.closes.len()), (2, 1), "{frame:?}: a new socket, the early one closed");
        assert!(s.logs.iter().any(|l| l.contains("not this hub's")), "{frame:?}: {:?}", s.logs);
        s.server.clear();
        s.sb.handle_socket_open(1, s.sockets[&1], s.now);
        s.server_sends(1, HANDSHAKE);
        assert_eq!(s.server_frames(1), ["40/chat,"], "{frame:?}: the hub's own CONNECT on the new socket");
        s.server_sends(1, r#"40/chat,{"sid":"abc"}"#);
        assert_eq!(s.last_status(1), Some(Status::Connected { sid: "abc".into() }), "{frame:?}");
    }
}

#[test]
fn an_early_connect_reported_for_another_socket_is_ignored() {
    let mut s = Sim::new();
    s.hello(1, "http://127.0.0.1:8080");
    let conn = s.sockets[&1];
    s.sb.handle_early_connect(1, conn.wrapping_add(1), "40");
    s.sb.handle_early_connect(2, conn, "40");
    s.sb.handle_socket_open(1, conn, s.now);
    s.server_sends(1, HANDSHAKE);
    assert_eq!(s.server_frames(1), ["40"]);
    assert_eq!(s.opens.len(), 1);
}

#[test]
fn an_early_connect_for_a_namespace_nobody_uses_any_more_closes_the_socket_and_opens_none() {
    let mut s = Sim::new();
    hello_nsp(&mut s, 1, "/chat");
    early_connect(&mut s, 1, "40/chat,");
    s.send(1, ToHub::Bye);
    s.server_sends(1, HANDSHAKE);
    assert_eq!((s.opens.len(), s.closes.len()), (1, 1), "the early socket closed, no other opened");
    assert!(s.server_frames(1).is_empty(), "no CONNECT of the hub's own: {:?}", s.logs);
}
