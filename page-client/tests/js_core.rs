//! The JS bundle's protocol core (`js/core.js`) against the Rust codec, in Node: every message
//! a tab sends is byte for byte `wire::encode_to_hub` of the same `ToHub` (the hub's decoder is
//! tested against postcard), and every `FromHub` postcard writes is reported to the client as
//! `Core` in src/lib.rs reports it; malformed input is a warning, never a throw. The defaults
//! and limits core.js spells out are the Rust ones (a Hello with no options set is checked).

use std::fmt::Write as _;
use std::process::Command;
use switchboard_page_client::{op, to_js};
use switchboard_shared::port::{
    self, AckRequest, AuthState, AuthTelemetry, Bytes, Endpoint, ErrorCode, FromHub, Options, Status, ToHub,
    PROTOCOL_VERSION,
};
use switchboard_shared::wire;

fn hex(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

/// One report of the core: (kind, n, m, a, b) with n and m as JS prints them.
type Call = (u32, String, String, Vec<u8>, Vec<u8>);

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex")).collect()
}

/// Runs `body` (JS, with `core`, `u` = UTF-8 bytes, `x` = bytes from hex in scope) and
/// returns every report, in order.
fn run(body: &str) -> Vec<Call> {
    let core = concat!(env!("CARGO_MANIFEST_DIR"), "/js/core.js");
    let script = format!(
        "const core = await import('file://{core}');
         const out = [];
         const hex = (b) => Buffer.from(b).toString('hex');
         core.host((c, kind, n, m, a, b) => out.push([kind, String(n), String(m), hex(a), hex(b)].join(' ')));
         const u = (s) => new TextEncoder().encode(s);
         const x = (h) => new Uint8Array(Buffer.from(h, 'hex'));
         {body}
         console.log(out.join('\\n'));"
    );
    let res = Command::new("node")
        .args(["--input-type=module", "-e", &script])
        .output()
        .expect("node (scripts/setup installs it)");
    assert!(res.status.success(), "node failed: {}", String::from_utf8_lossy(&res.stderr));
    String::from_utf8(res.stdout)
        .expect("UTF-8")
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let field = |i: usize| f.get(i).copied().unwrap_or("");
            (field(0).parse().expect("kind"), field(1).into(), field(2).into(), unhex(field(3)), unhex(field(4)))
        })
        .collect()
}

fn posts(calls: &[Call]) -> Vec<Vec<u8>> {
    calls.iter().filter(|c| c.0 == to_js::POST).map(|c| c.3.clone()).collect()
}

const CREATE: &str =
    "const c = core.create(u('tab-1\\0http://127.0.0.1:8080\\0/socket.io\\0/chat\\0a=1\\0{\"t\":\"é\"}\\0'), \
    [0, 250, 2000.7, 0.25, -5, 3, NaN, 60000, 1, 4, 7000]);";

fn hello() -> ToHub {
    ToHub::Hello {
        version: PROTOCOL_VERSION,
        tab: "tab-1".into(),
        endpoint: Endpoint {
            url: "http://127.0.0.1:8080".into(),
            path: "/socket.io".into(),
            namespace: "/chat".into(),
            query: "a=1".into(),
        },
        auth: Some("{\"t\":\"é\"}".into()),
        options: Options {
            reconnection: false,
            reconnection_delay_ms: 250,
            reconnection_delay_max_ms: 2000,
            timeout_ms: 0,
            max_queue: 3,
            max_queue_bytes: Options::default().max_queue_bytes,
            bearer: true,
            randomization_factor: 0.25,
            max_queue_age_ms: 60000,
            reconnection_attempts: 4,
        },
    }
}

#[test]
fn every_message_a_tab_sends_is_the_rust_codec_s_bytes() {
    let calls = run(&format!(
        "{CREATE}
         core.op(c, {attach}, 0, u(''), u(''));
         core.op(c, {sub}, 0, u('news'), u(''));
         core.op(c, {join}, 0, u('room 1'), u(''));
         core.bin(c, x('0001ff'));
         core.op(c, {emit}, 0, u('chat'), u('[\"hi\",{{\"_placeholder\":true,\"num\":0}}]'));
         core.op(c, {volatile}, 0, u('v'), u('[]'));
         core.op(c, {ack}, 0, u('echo'), u('[1]'));
         core.op(c, {emit_to}, 0, u('room 1\\0ping'), u('[2]'));
         core.op(c, {reply}, 77, u('[\"ok\"]'), u(''));
         core.op(c, {login}, 0, u('alice'), u('pässword'));
         core.op(c, {logout}, 0, u(''), u(''));
         core.op(c, {refresh}, 0, u(''), u(''));
         core.op(c, {token}, 0, u(''), u(''));
         core.op(c, {priority}, 7, u('12345678901'), u(''));
         core.op(c, {unsub}, 0, u('news'), u(''));
         core.op(c, {leave}, 0, u('room 1'), u(''));
         core.op(c, {bye}, 0, u(''), u(''));",
        attach = op::ATTACH,
        sub = op::SUBSCRIBE,
        join = op::JOIN,
        emit = op::EMIT,
        volatile = op::EMIT_VOLATILE,
        ack = op::EMIT_ACK,
        emit_to = op::EMIT_TO,
        reply = op::REPLY,
        login = op::LOGIN,
        logout = op::LOGOUT,
        refresh = op::REFRESH,
        token = op::TOKEN,
        priority = op::PRIORITY,
        unsub = op::UNSUBSCRIBE,
        leave = op::LEAVE,
        bye = op::BYE,
    ));
    let expected = [
        hello(),
        ToHub::Subscribe { event: "news".into() },
        ToHub::Join { req: 1, room: "room 1".into() },
        ToHub::Emit {
            seq: 0,
            event: "chat".into(),
            args: "[\"hi\",{\"_placeholder\":true,\"num\":0}]".into(),
            bins: vec![Bytes(vec![0, 1, 255])],
            ack: None,
            volatile: false,
        },
        ToHub::Emit { seq: 1, event: "v".into(), args: "[]".into(), bins: vec![], ack: None, volatile: true },
        ToHub::Emit {
            seq: 2,
            event: "echo".into(),
            args: "[1]".into(),
            bins: vec![],
            ack: Some(AckRequest { id: 2, timeout_ms: 7000 }),
            volatile: false,
        },
        ToHub::EmitTo { seq: 3, room: "room 1".into(), event: "ping".into(), args: "[2]".into(), bins: vec![] },
        ToHub::Reply { token: 77, args: "[\"ok\"]".into(), bins: vec![] },
        ToHub::Login { req: 3, username: "alice".into(), password: "pässword".into() },
        ToHub::Logout { req: 4 },
        ToHub::Refresh { req: 5 },
        ToHub::Token { req: 6 },
        ToHub::Priority { level: 3, scope: 1, term: 12_345_678_901 },
        ToHub::Unsubscribe { event: "news".into() },
        ToHub::Leave { req: 7, room: "room 1".into() },
        ToHub::Bye,
    ];
    let got = posts(&calls);
    assert_eq!(got.len(), expected.len(), "{calls:?}");
    for (bytes, msg) in got.iter().zip(&expected) {
        assert_eq!(hex(bytes), hex(&wire::encode_to_hub(msg)), "{msg:?}");
        assert_eq!(port::decode::<ToHub>(bytes).as_ref(), Ok(msg), "postcard reads it back");
    }
    // A join and a leave report the room list: the room, then none.
    let rooms: Vec<&Call> = calls.iter().filter(|c| c.0 == to_js::ROOMS || c.0 == to_js::ITEM).collect();
    assert_eq!(
        rooms.iter().map(|c| (c.0, c.3.clone())).collect::<Vec<_>>(),
        [(to_js::ITEM, b"room 1".to_vec()), (to_js::ROOMS, vec![]), (to_js::ROOMS, vec![]),]
    );
}

#[test]
fn a_hello_without_options_carries_the_rust_defaults() {
    let calls = run(&format!(
        "const c = core.create(u('t\\0u\\0p\\0/\\0\\0\\0'), [NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN]);
         core.op(c, {attach}, 0, u(''), u(''));",
        attach = op::ATTACH
    ));
    let hello = ToHub::Hello {
        version: PROTOCOL_VERSION,
        tab: "t".into(),
        endpoint: Endpoint { url: "u".into(), path: "p".into(), namespace: "/".into(), query: "".into() },
        auth: None,
        options: Options::default(),
    };
    assert_eq!(posts(&calls), [wire::encode_to_hub(&hello)]);
}

#[test]
fn a_restart_resends_what_the_hub_has_not_confirmed_and_only_that() {
    let stored = hex(&port::encode(&FromHub::Stored { seq: 0 }));
    let refused = hex(&port::encode(&FromHub::Refused { seq: 2, reason: "full".into() }));
    let calls = run(&format!(
        "{CREATE}
         for (const n of [0, 1, 2, 3]) core.op(c, {emit}, 0, u('e'), u('[' + n + ']'));
         core.recv(c, x('{stored}{refused}'));
         core.op(c, {sub}, 0, u('a'), u(''));
         const count = core.op(c, {count}, 0, u(''), u(''));
         out.length = 0;
         core.op(c, {restart}, 0, u(''), u(''));
         out.push('99 ' + count + ' 0  ');",
        emit = op::EMIT,
        sub = op::SUBSCRIBE,
        count = op::COUNT,
        restart = op::RESTART,
    ));
    assert_eq!(calls.last().map(|c| (c.0, c.1.as_str())), Some((99, "2")), "two emits unconfirmed");
    let emit = |seq: u32| ToHub::Emit {
        seq,
        event: "e".into(),
        args: format!("[{seq}]"),
        bins: vec![],
        ack: None,
        volatile: false,
    };
    let expected: Vec<Vec<u8>> =
        [hello(), ToHub::Subscribe { event: "a".into() }, emit(1), emit(3)].iter().map(wire::encode_to_hub).collect();
    assert_eq!(posts(&calls), expected);
}

#[test]
fn every_message_from_the_hub_is_reported_as_the_rust_core_reports_it() {
    let auth = AuthState {
        user: Some("alice".into()),
        expires_at: Some(1_700_000_000_000),
        error: None,
        signed_out: Some("logout".into()),
        telemetry: AuthTelemetry {
            refreshes: 2,
            last_ms: 30,
            max_ms: 40,
            total_ms: 70,
            failures: vec![("network".into(), 1)],
            sign_outs: vec![("logout".into(), 3)],
        },
    };
    let msgs = [
        FromHub::Welcome { version: PROTOCOL_VERSION, status: Status::Connected { sid: "s1".into() } },
        FromHub::Status(Status::Reconnecting { attempt: 3, delay_ms: 1500, reason: "transport close".into() }),
        FromHub::Event {
            event: "chat".into(),
            room: Some("r".into()),
            args: "[{\"_placeholder\":true,\"num\":0}]".into(),
            bins: vec![Bytes(vec![9, 8])],
            reply: Some(5),
        },
        FromHub::Event { event: "n".into(), room: None, args: "[]".into(), bins: vec![], reply: None },
        FromHub::Ack { id: 4, args: "[1]".into(), bins: vec![] },
        FromHub::AckFailed { id: 6, reason: "timeout".into() },
        FromHub::Done { req: 7, error: None },
        FromHub::Done { req: 8, error: Some("no".into()) },
        FromHub::Tabs { tabs: vec!["a".into(), "b".into()] },
        FromHub::Stored { seq: 1 },
        FromHub::Refused { seq: 2, reason: "full".into() },
        FromHub::Clock { offset_ms: -1234, rtt_ms: 5 },
        FromHub::Recovered { recovered: true },
        FromHub::Auth(auth),
        FromHub::Token { req: 9, token: Some("tok".into()), error: None },
        FromHub::Token { req: 10, token: None, error: None },
        FromHub::Token { req: 11, token: None, error: Some("signed out".into()) },
        FromHub::Error { code: ErrorCode::NotAttached, message: "attach again".into() },
    ];
    // Back to back in one port message, as a busy hub sends them.
    let all: String = msgs.iter().map(|m| hex(&port::encode(m))).collect();
    let calls = run(&format!("{CREATE} core.recv(c, x('{all}'));"));
    let t =
        |kind: u32, n: &str, m: &str, a: &[u8], b: &[u8]| (kind, n.to_string(), m.to_string(), a.to_vec(), b.to_vec());
    let item = |s: &[u8]| t(to_js::ITEM, "0", "1", s, b"");
    let num = |n: &str| t(to_js::ITEM, n, "0", b"", b"");
    let expected = vec![
        t(to_js::STATUS, "0", "0", b"connected", b"s1"),
        t(to_js::WELCOME, "0", "0", b"", b""),
        t(to_js::STATUS, "3", "1500", b"reconnecting", b"transport close"),
        t(to_js::BIN, "0", "0", &[9, 8], b""),
        t(to_js::EVENT, "5", "0", b"chat", b"[{\"_placeholder\":true,\"num\":0}]"),
        t(to_js::EVENT, "NaN", "0", b"n", b"[]"),
        t(to_js::ACK, "4", "0", b"[1]", b""),
        t(to_js::FAIL, "6", "0", b"timeout", b""),
        t(to_js::OK, "7", "0", b"", b""),
        t(to_js::FAIL, "8", "0", b"no", b""),
        item(b"a"),
        item(b"b"),
        t(to_js::TABS, "0", "0", b"", b""),
        t(to_js::WARN, "0", "0", b"emit refused: ", b"full"),
        t(to_js::CLOCK, "-1234", "0", b"", b""),
        t(to_js::RECOVERED, "1", "0", b"", b""),
        item(b"alice"),
        t(to_js::ITEM, "0", "2", b"", b""),
        item(b"logout"),
        num("1700000000000"),
        num("2"),
        num("30"),
        num("40"),
        num("70"),
        item(b"network"),
        num("1"),
        item(b"logout"),
        num("3"),
        t(to_js::AUTH, "1", "0", b"", b""),
        t(to_js::OK, "9", "1", b"tok", b""),
        t(to_js::FAIL, "10", "0", b"no token", b""),
        t(to_js::FAIL, "11", "0", b"signed out", b""),
        t(to_js::ERROR, &(ErrorCode::NotAttached as u32).to_string(), "0", b"attach again", b""),
    ];
    assert_eq!(calls, expected);
}

#[test]
fn malformed_bytes_from_the_hub_are_a_warning_after_what_was_whole() {
    let whole = hex(&port::encode(&FromHub::Done { req: 1, error: None }));
    let cases = [
        format!("{whole}05"),           // a message cut short
        format!("{whole}ff"),           // a variant index cut short
        format!("{whole}0d07"),         // an error code out of range, then nothing
        format!("{whole}0401"),         // AckFailed without its reason
        format!("{whole}060102c328"),   // a tab id that is not UTF-8
        format!("{whole}07ffffffff10"), // a varint over 32 bits
        format!("{whole}0a02"),         // a bool that is neither 0 nor 1
        format!("{whole}63"),           // an unknown variant
    ];
    for case in cases {
        let calls = run(&format!("{CREATE} core.recv(c, x('{case}'));"));
        assert_eq!(calls.len(), 2, "{case}: {calls:?}");
        assert_eq!(calls[0].0, to_js::OK, "{case}: the whole message first");
        assert_eq!(
            (calls[1].0, calls[1].3.as_slice()),
            (to_js::WARN, &b"malformed message from the hub"[..]),
            "{case}"
        );
        // The Rust reader refuses the same bytes.
        assert!(wire::decode_from_hub(&unhex(&case[whole.len()..])).is_err(), "{case}: Rust accepts it");
    }
}
