//! Property tests: codecs round-trip, and no input bytes make a decoder or the hub panic.

use proptest::prelude::*;
use switchboard_shared::hub::{HubConfig, Switchboard};
use switchboard_shared::port::{
    self, AckRequest, AuthState, AuthTelemetry, Bytes, Endpoint, ErrorCode, FromHub, Options, Status, ToHub,
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
    ]
}

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![
        Just(Status::Connecting),
        ".*".prop_map(|sid| Status::Connected { sid }),
        Just(Status::Offline),
        (any::<u32>(), any::<u32>()).prop_map(|(attempt, delay_ms)| Status::Reconnecting { attempt, delay_ms }),
        ".*".prop_map(|reason| Status::Disconnected { reason }),
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
